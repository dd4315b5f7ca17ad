import Foundation
import Testing
import CTurboJPEG
import VAEModel
@testable import VAETraining

/// A folder of PNG pictures as data: decoded once into an NPY cache (reused, renewed when a picture changes),
/// centre-cropped and area-averaged exactly, grey pictures among colour ones made RGB, a damaged picture named, and
/// the folder training to the same bits as the same pictures given as an NPY.
@Suite struct ImageFolderTests {
    /// Picture `n` of 20×16: 2×2 blocks of one colour each inside the centre 16×16 (a frame outside it), RGB.
    static func picture(_ n: Int) -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: 20 * 16 * 3)
        for y in 0..<16 {
            for x in 0..<20 {
                for c in 0..<3 {
                    let inside = x >= 2 && x < 18
                    let block = ((y / 2) * 8 + (x - 2) / 2)
                    pixels[(y * 20 + x) * 3 + c] = inside ? UInt8((block * 11 + n * 29 + c * 67) % 256) : 255
                }
            }
        }
        return pixels
    }

    /// The picture as the reader must give it with crop 16 and size 8: each 2×2 block one pixel, [8, 8, 3].
    static func expected(_ n: Int) -> [UInt8] {
        (0..<64).flatMap { block in (0..<3).map { c in UInt8((block * 11 + n * 29 + c * 67) % 256) } }
    }

    static func folder(count: Int = 12) throws -> String {
        let folder = Fixtures.temporaryFolder("pictures")
        try FileManager.default.createDirectory(atPath: folder + "/sub", withIntermediateDirectories: true)
        for n in 0..<count {
            let path = folder + (n % 3 == 0 ? "/sub" : "") + String(format: "/p%02d.png", n)
            try PNGFile.write(path: path, width: 20, height: 16, pixels: picture(n), channels: 3)
        }
        return folder
    }

    static var options: ImageFolder.Options {
        var o = ImageFolder.Options()
        (o.imageSize, o.crop) = (8, 16)
        return o
    }

    @Test func picturesAreCroppedAndAreaAveragedExactlyAndCached() throws {
        let folder = try Self.folder()
        let set = try ImageFolder.read(folder: folder, options: Self.options)
        #expect(set.storedDimensions == [8, 8, 3] && set.count == 12)
        let names = ImageFolder.pictures(in: folder)  // name order: p01, p02, p04 …, then sub/
        for (index, name) in names.enumerated() {
            let n = Int(name.dropFirst(name.hasPrefix("sub/") ? 5 : 1).prefix(2))!
            let got = Array(UnsafeRawBufferPointer(start: set.storage.address(ofSample: index), count: 192))
            #expect(got == Self.expected(n), "\(name)")
        }
        // The cache is reused as long as the listing is the same, and renewed when a picture changes.
        func caches() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: folder + "/.vae-dist-cache").filter { $0.hasSuffix(".npy") }
        }
        let cache = try #require(try caches().first)
        _ = try ImageFolder.read(folder: folder, options: Self.options)
        #expect(try caches() == [cache])
        try PNGFile.write(path: folder + "/p01.png", width: 20, height: 16, pixels: Self.picture(40), channels: 3)
        _ = try ImageFolder.read(folder: folder, options: Self.options)
        #expect(try caches().count == 2)
    }

    @Test func greyAmongColourBecomesRGBAndADamagedPictureIsNamed() throws {
        let folder = try Self.folder(count: 3)
        try PNGFile.write(path: folder + "/grey.png", width: 20, height: 16, pixels: [UInt8](repeating: 90, count: 320))
        let set = try ImageFolder.read(folder: folder, options: Self.options)
        let grey = try #require(ImageFolder.pictures(in: folder).firstIndex(of: "grey.png"))
        let values = Array(UnsafeRawBufferPointer(start: set.storage.address(ofSample: grey), count: 192))
        #expect(set.storedDimensions == [8, 8, 3] && values.allSatisfy { $0 == 90 })
        try Data([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]).write(to: URL(fileURLWithPath: folder + "/broken.png"))
        #expect { try ImageFolder.read(folder: folder, options: Self.options) } throws: { "\($0)".contains("broken.png") }
    }

    /// The folder (as train/) trains a conv model to the bits the same pictures give as an NPY `[N, 8, 8, 3]`.
    @Test func aFolderTrainsLikeTheSameNPY() throws {
        let root = Fixtures.temporaryFolder("pictures-root")
        let folder = root + "/train"
        try FileManager.default.moveItem(atPath: try Self.folder(), toPath: folder)
        let names = ImageFolder.pictures(in: folder)
        let values = names.flatMap { name in Self.expected(Int(name.dropFirst(name.hasPrefix("sub/") ? 5 : 1).prefix(2))!) }
        let npy = Fixtures.temporaryFolder("pictures-npy") + "/train.npy"
        try Data(npyFile(descr: "|u1", shape: [12, 8, 8, 3], data: values)).write(to: URL(fileURLWithPath: npy))
        let config = Fixtures.configFile(
            """
            {"model": {"latent_size": 2, "likelihood": "discretized_logistic",
              "encoder": [{"conv2d": {"out": 4, "kernel": 4, "stride": 2, "padding": 1}}, "relu", "flatten"],
              "decoder": [{"linear": {"out": 64}}, "relu", {"unflatten": [4, 4, 4]},
                          {"conv_transpose2d": {"out": 3, "kernel": 4, "stride": 2, "padding": 1}}]},
             "training": {"batch_size": 4, "epochs": 1}, "data": {"image_size": 8, "crop": 16}}
            """, name: "pictures")
        let hashes = try [root, npy].map { try Fixtures.stateHashAfterTraining(config: config, data: $0, steps: 3) }
        #expect(hashes[0] == hashes[1])
    }
}

/// JPEG pictures in a folder: decoded by libjpeg-turbo beside PNG ones, grey JPEGs made RGB among colour ones, values
/// within JPEG's loss (quality 100) of the originals, a damaged JPEG named.
@Suite struct JPEGFolderTests {
    /// `pixels` (`channels` 1 or 3) as JPEG bytes at quality 100, 4:4:4, through TurboJPEG's encoder.
    static func jpeg(_ pixels: [UInt8], width: Int, height: Int, channels: Int) throws -> [UInt8] {
        let handle = try #require(tjInitCompress())
        defer { tjDestroy(handle) }
        var output: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let format = channels == 3 ? Int32(TJPF_RGB.rawValue) : Int32(TJPF_GRAY.rawValue)
        let subsampling = channels == 3 ? Int32(TJSAMP_444.rawValue) : Int32(TJSAMP_GRAY.rawValue)
        let status = tjCompress2(handle, pixels, Int32(width), 0, Int32(height), format, &output, &size, subsampling, 100, 0)
        #expect(status == 0)
        defer { tjFree(output) }
        return Array(UnsafeBufferPointer(start: output, count: Int(size)))
    }

    @Test func jpegPicturesDecodeBesidePNGOnes() throws {
        let folder = Fixtures.temporaryFolder("jpeg")
        let colour = ImageFolderTests.picture(3), grey = [UInt8](repeating: 200, count: 20 * 16)
        try Data(Self.jpeg(colour, width: 20, height: 16, channels: 3)).write(to: URL(fileURLWithPath: folder + "/a.jpg"))
        try Data(Self.jpeg(grey, width: 20, height: 16, channels: 1)).write(to: URL(fileURLWithPath: folder + "/b.JPEG"))
        try PNGFile.write(path: folder + "/c.png", width: 20, height: 16, pixels: ImageFolderTests.picture(5), channels: 3)
        var options = ImageFolder.Options()
        options.crop = 16
        let set = try ImageFolder.read(folder: folder, options: options)
        #expect(set.storedDimensions == [16, 16, 3] && set.count == 3)
        func sample(_ i: Int) -> [UInt8] { Array(UnsafeRawBufferPointer(start: set.storage.address(ofSample: i), count: 768)) }
        // The colour JPEG: the centre 16×16 of the original within a few levels (JPEG at quality 100).
        let original = (0..<16).flatMap { y in (0..<48).map { colour[(y * 20 + 2) * 3 + $0] } }
        let worst = zip(sample(0), original).map { abs(Int($0) - Int($1)) }.max() ?? 255
        #expect(worst <= 8, "the colour JPEG is off by up to \(worst) levels")
        #expect(sample(1).allSatisfy { abs(Int($0) - 200) <= 1 }, "the grey JPEG, made RGB")
        try Data([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2]).write(to: URL(fileURLWithPath: folder + "/d.jpg"))
        #expect { try ImageFolder.read(folder: folder, options: options) } throws: { "\($0)".contains("d.jpg") }
    }
}

/// Hostile pictures refused before anything is allocated: a PNG header claiming 100,000 × 100,000 pixels, a
/// 0 × 0 one, a truncated file.
@Suite struct HostilePictureTests {
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xffff_ffff
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xedb8_8320 : crc >> 1 }
        }
        return ~crc
    }

    /// A PNG signature, an IHDR chunk (8-bit RGB) claiming `width × height`, an empty IDAT and IEND, valid CRCs: a
    /// header that lies about pixels it does not have.
    static func header(width: UInt32, height: UInt32) -> [UInt8] {
        func be(_ v: UInt32) -> [UInt8] { [24, 16, 8, 0].map { UInt8((v >> $0) & 0xff) } }
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            return be(UInt32(data.count)) + body + be(crc32(body))
        }
        return [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] + chunk("IHDR", be(width) + be(height) + [8, 2, 0, 0, 0])
            + chunk("IDAT", []) + chunk("IEND", [])
    }

    @Test(arguments: [("huge", 100_000, 100_000, "more than vae-dist decodes"), ("empty", 0, 0, "cannot be read")])
    func liesInTheHeaderAreRefused(name: String, width: Int, height: Int, phrase: String) throws {
        let folder = Fixtures.temporaryFolder("hostile-\(name)")
        try Data(Self.header(width: UInt32(width), height: UInt32(height))).write(to: URL(fileURLWithPath: folder + "/x.png"))
        #expect { try ImageFolder.read(folder: folder, options: ImageFolder.Options()) } throws: {
            "\($0)".contains("x.png") && "\($0)".contains(phrase)
        }
    }

    @Test func aTruncatedPictureIsNamed() throws {
        let folder = Fixtures.temporaryFolder("hostile-truncated")
        let whole = try PNGFile.encode(width: 20, height: 16, pixels: ImageFolderTests.picture(1), channels: 3)
        try Data(whole.prefix(whole.count / 2)).write(to: URL(fileURLWithPath: folder + "/half.png"))
        #expect { try ImageFolder.read(folder: folder, options: ImageFolder.Options()) } throws: { "\($0)".contains("half.png") }
    }
}

/// Pictures alone (no `test/`): a tenth of them, chosen by a fixed seed, are the test set.
@Suite struct PictureSplitTests {
    @Test func aTenthIsTheTestSetTheSameEveryTime() throws {
        let folder = try ImageFolderTests.folder(count: 20)
        var options = ImageFolder.Options()
        (options.imageSize, options.crop) = (8, 16)
        let a = try DataSplits.load(folder, pictures: options), b = try DataSplits.load(folder, pictures: options)
        #expect(a.train.count == 18 && a.test?.count == 2)
        #expect(a.test?.selection == b.test?.selection && a.train.selection == b.train.selection)
        #expect(Set(a.train.selection ?? []).isDisjoint(with: a.test?.selection ?? []))
    }
}

/// PNG colour types and depths written byte by byte by a small Python (standard library) writer — 16-bit grey and
/// RGB, palette, grey with alpha — decoded to the values a numpy user would expect (alpha dropped): 16-bit scaled by 1/257 and
/// rounded, palette indices looked up; a grey picture among colour ones made RGB.
@Suite struct PNGKindsTests {
    static let writer = """
        import struct, sys, zlib, os
        def png(path, width, height, depth, colour, rows, palette=None):
            def chunk(kind, data):
                return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)
            body = b''.join(b'\\0' + row for row in rows)
            out = b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, depth, colour, 0, 0, 0))
            if palette: out += chunk(b'PLTE', bytes(palette))
            open(path, 'wb').write(out + chunk(b'IDAT', zlib.compress(body)) + chunk(b'IEND', b''))
        folder = sys.argv[1]
        w, h = 8, 8
        v16 = lambda x, y, c: (x * 8191 + y * 4093 + c * 20011) % 65536
        png(os.path.join(folder, 'a16grey.png'), w, h, 16, 0,
            [b''.join(struct.pack('>H', v16(x, y, 0)) for x in range(w)) for y in range(h)])
        png(os.path.join(folder, 'b16rgb.png'), w, h, 16, 2,
            [b''.join(struct.pack('>HHH', *(v16(x, y, c) for c in range(3))) for x in range(w)) for y in range(h)])
        palette = [(i * 37) % 256 for i in range(3 * 16)]
        png(os.path.join(folder, 'c-palette.png'), w, h, 8, 3, [bytes((x + y) % 16 for x in range(w)) for y in range(h)], palette)
        png(os.path.join(folder, 'd-grey-alpha.png'), w, h, 8, 4, [b''.join(bytes([x * 30, 100]) for x in range(w)) for y in range(h)])
        """

    static func v16(_ x: Int, _ y: Int, _ c: Int) -> Int { (x * 8191 + y * 4093 + c * 20011) % 65536 }

    @Test func depthsAndPalettesDecodeAsNumpyUsersExpect() throws {
        let folder = Fixtures.temporaryFolder("png-kinds")
        let (status, output) = try CLITests.python(["-c", Self.writer, folder])
        try #require(status == 0, "\(output)")
        let set = try ImageFolder.read(folder: folder, options: ImageFolder.Options())
        #expect(set.storedDimensions == [8, 8, 3] && set.count == 4)
        func picture(_ i: Int) -> [UInt8] { Array(UnsafeRawBufferPointer(start: set.storage.address(ofSample: i), count: 192)) }
        func scaled(_ v: Int) -> UInt8 { UInt8((v + 128) / 257) }
        var grey: [UInt8] = [], rgb: [UInt8] = [], indexed: [UInt8] = [], alpha: [UInt8] = []
        for y in 0..<8 {
            for x in 0..<8 {
                grey += [UInt8](repeating: scaled(Self.v16(x, y, 0)), count: 3)
                rgb += (0..<3).map { scaled(Self.v16(x, y, $0)) }
                indexed += (0..<3).map { UInt8((((x + y) % 16) * 3 + $0) * 37 % 256) }
                alpha += [UInt8](repeating: UInt8(x * 30), count: 3)
            }
        }
        #expect(picture(0) == grey, "16-bit grey")
        #expect(picture(1) == rgb, "16-bit RGB")
        #expect(picture(2) == indexed, "palette")
        #expect(picture(3) == alpha, "grey with its alpha channel dropped")
    }
}

/// `data.skip_bad_images`: pictures that cannot be decoded are left out and counted, instead of stopping the run.
@Suite struct SkipBadPicturesTests {
    @Test func badPicturesAreLeftOutAndCounted() throws {
        let folder = Fixtures.temporaryFolder("skip-bad")
        try FileManager.default.createDirectory(atPath: folder + "/train", withIntermediateDirectories: true)
        for n in 0..<5 {
            try PNGFile.write(
                path: folder + "/train/p\(n).png", width: 20, height: 16, pixels: ImageFolderTests.picture(n), channels: 3)
        }
        try Data([0x89, 0x50, 0x4e, 0x47, 9, 9]).write(to: URL(fileURLWithPath: folder + "/train/broken.png"))
        var options = ImageFolder.Options()
        (options.imageSize, options.crop) = (8, 16)
        #expect { try DataSplits.load(folder, pictures: options) } throws: { "\($0)".contains("broken.png") }
        options.skipBadImages = true
        let splits = try DataSplits.load(folder, pictures: options)
        #expect(splits.train.count == 5 && splits.train.skippedPictures == 1, "\(splits.counts)")
        #expect(splits.counts.contains("1 pictures that cannot be decoded left out"), "\(splits.counts)")
        // Laid out for a model of layer lists, the count stays.
        #expect(try splits.laidOut("auto").train.skippedPictures == 1)
        // Read again from its cache, the count stays.
        #expect(try DataSplits.load(folder, pictures: options).train.skippedPictures == 1)
    }
}

/// Against a reference decoder and resizer, Pillow in the tests' Python: JPEG pictures (4:4:4) decode to Pillow's
/// values within 1 level, and a centre crop and area-averaging resize of an odd-sized picture agree with Pillow's
/// crop and box-filter resize (3 : 1, where the box filter is the area average) within 1/255.
@Suite struct PillowReferenceTests {
    static let script = """
        import sys, os, numpy as np
        from PIL import Image
        folder = sys.argv[1]
        rng = np.random.default_rng(7)
        a = rng.integers(0, 256, (29, 37, 3), dtype=np.uint8)
        Image.fromarray(a).save(os.path.join(folder, 'pictures', 'a.png'))
        b = (np.add.outer(np.arange(24), np.arange(40))[:, :, None] * [3, 5, 7] % 256).astype(np.uint8)
        Image.fromarray(b).save(os.path.join(folder, 'pictures', 'b.jpg'), quality=95, subsampling=0)
        out = []
        for name in ('a.png', 'b.jpg'):
            im = Image.open(os.path.join(folder, 'pictures', name)).convert('RGB')
            w, h = im.size
            s = 24
            left, top = (w - s) // 2, (h - s) // 2
            out.append(np.asarray(im.crop((left, top, left + s, top + s)).resize((8, 8), Image.BOX)))
        np.save(os.path.join(folder, 'reference.npy'), np.stack(out))
        """

    @Test func decodingAndResizingAgreeWithPillow() throws {
        let folder = Fixtures.temporaryFolder("pillow")
        try FileManager.default.createDirectory(atPath: folder + "/pictures", withIntermediateDirectories: true)
        let (status, output) = try CLITests.python(["-c", Self.script, folder])
        try #require(status == 0, "\(output)")
        var options = ImageFolder.Options()
        (options.imageSize, options.crop) = (8, 24)  // a whole ratio, where Pillow's box filter is the area average
        let ours = try ImageFolder.read(folder: folder + "/pictures", options: options)
        let reference = try NPYReader.readDataset(path: folder + "/reference.npy")
        #expect(ours.count == 2 && reference.count == 2 && ours.storedDimensions == reference.storedDimensions)
        for i in 0..<2 {
            let a = UnsafeRawBufferPointer(start: ours.storage.address(ofSample: i), count: 192)
            let b = UnsafeRawBufferPointer(start: reference.storage.address(ofSample: i), count: 192)
            let worst = zip(a, b).map { abs(Int($0) - Int($1)) }.max() ?? 255
            #expect(worst <= 1, "picture \(i): off by \(worst) levels from Pillow's")
        }
    }
}
