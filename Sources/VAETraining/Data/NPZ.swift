import CZlib
import Foundation

/// NumPy's `.npz` archives (`np.savez`, `np.savez_compressed`): a ZIP of `.npy` members, stored or deflated. A
/// member whose name holds `train`, `val` or `test` is that set (`x_train.npy`, `test.npy`); an archive of one member
/// is a training set. Each member is read into memory (inflated by zlib) after its sizes — from the central
/// directory — are checked against memory; ZIP64 archives, other compressions and encrypted members are refused
/// with what to do.
enum NPZReader {
    struct Member {
        let name: String
        let method: UInt16
        let compressedSize: Int, size: Int
        let headerOffset: Int
    }

    /// The archive's members, from its central directory.
    static func members(_ bytes: [UInt8], path: String) throws -> [Member] {
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        // The end-of-central-directory record: its signature within the last 64 KiB + 22 bytes.
        guard bytes.count >= 22,
            let end = stride(from: bytes.count - 22, through: max(0, bytes.count - 22 - 65_535), by: -1).first(where: {
                u32($0) == 0x0605_4b50
            })
        else { throw DataError.unreadable(path: path, reason: "not a ZIP archive (no end of central directory)") }
        let count = u16(end + 10), directory = u32(end + 16)
        guard count != 0xffff, directory != 0xffff_ffff else {
            throw DataError.unreadable(path: path, reason: "a ZIP64 archive; save the arrays as .npy files instead")
        }
        var members: [Member] = []
        var at = directory
        for _ in 0..<count {
            guard at + 46 <= bytes.count, u32(at) == 0x0201_4b50 else {
                throw DataError.unreadable(path: path, reason: "its central directory is damaged")
            }
            let nameLength = u16(at + 28), extra = u16(at + 30), comment = u16(at + 32)
            guard at + 46 + nameLength <= bytes.count else {
                throw DataError.unreadable(path: path, reason: "its central directory is damaged")
            }
            let name = String(decoding: bytes[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self)
            guard u16(at + 8) & 1 == 0 else { throw DataError.unreadable(path: path, reason: "member \(name) is encrypted") }
            members.append(
                Member(
                    name: name, method: UInt16(u16(at + 10)), compressedSize: u32(at + 20), size: u32(at + 24),
                    headerOffset: u32(at + 42)))
            at += 46 + nameLength + extra + comment
        }
        return members
    }

    /// One member's bytes, inflated when deflated.
    static func contents(of member: Member, in bytes: [UInt8], path: String) throws -> [UInt8] {
        let at = member.headerOffset
        guard at + 30 <= bytes.count, bytes[at] == 0x50, bytes[at + 1] == 0x4b, bytes[at + 2] == 3, bytes[at + 3] == 4 else {
            throw DataError.unreadable(path: path, reason: "member \(member.name)'s header is damaged")
        }
        let start = at + 30 + (Int(bytes[at + 26]) | Int(bytes[at + 27]) << 8) + (Int(bytes[at + 28]) | Int(bytes[at + 29]) << 8)
        guard start + member.compressedSize <= bytes.count else {
            throw DataError.truncated(path: path, expectedBytes: start + member.compressedSize, actualBytes: bytes.count)
        }
        guard member.size <= MachineMemory.bytes / 2 else {
            throw DataError.unreadable(
                path: path, reason: "member \(member.name) is \(member.size) bytes, more than half this machine's memory")
        }
        switch member.method {
        case 0:
            return Array(bytes[start..<(start + member.compressedSize)])
        case 8:
            var output = [UInt8](repeating: 0, count: member.size)
            var stream = z_stream()
            guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw DataError.unreadable(path: path, reason: "zlib did not start")
            }
            defer { inflateEnd(&stream) }
            let status = bytes.withUnsafeBufferPointer { source in
                output.withUnsafeMutableBufferPointer { target in
                    stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress! + start)
                    stream.avail_in = UInt32(member.compressedSize)
                    stream.next_out = target.baseAddress
                    stream.avail_out = UInt32(member.size)
                    return inflate(&stream, Z_FINISH)
                }
            }
            guard status == Z_STREAM_END, Int(stream.total_out) == member.size else {
                throw DataError.unreadable(path: path, reason: "member \(member.name)'s compressed data is damaged")
            }
            return output
        default:
            throw DataError.unreadable(
                path: path,
                reason: "member \(member.name) uses ZIP compression \(member.method); save with np.savez or np.savez_compressed")
        }
    }

    /// The archive's sets.
    static func splits(path: String) throws -> DataSplits {
        let file = try DataFile(path: path)
        guard file.size <= MachineMemory.bytes / 2 else {
            throw DataError.unreadable(
                path: path, reason: "is larger than half this machine's memory; save the arrays as .npy files")
        }
        let bytes = try file.prefix(file.size)
        let members = try members(bytes, path: path).filter { $0.name.hasSuffix(".npy") }
        guard !members.isEmpty else { throw DataError.unreadable(path: path, reason: "holds no .npy arrays") }
        func dataset(_ member: Member) throws -> ImageDataset {
            try NPYReader.dataset(bytes: try contents(of: member, in: bytes, path: path), path: "\(path):\(member.name)")
        }
        func named(_ word: String) -> Member? { members.first { $0.name.lowercased().contains(word) } }
        if members.count == 1 { return DataSplits(train: try dataset(members[0]), test: nil, source: path) }
        guard let train = named("train") else {
            throw DataError.unreadable(
                path: path,
                reason: "holds \(members.map(\.name)); name the training array with \"train\" (np.savez(f, x_train=…))")
        }
        return DataSplits(
            train: try dataset(train), validation: try named("val").map(dataset), test: try named("test").map(dataset),
            source: path)
    }
}
