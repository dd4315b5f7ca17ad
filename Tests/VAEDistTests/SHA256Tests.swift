import Foundation
import Testing
import CSHA256
@testable import VAETraining
import VAEModel

@Suite struct SHA256Tests {
    @Test func knownVectors() {
        #expect(SHA256.hash(Array("".utf8)).hexString == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hash(Array("abc".utf8)).hexString == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)).hexString
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // Incremental updates across block boundaries equal one update.
        let bytes = (0..<1000).map { UInt8($0 % 251) }
        var hasher = SHA256()
        hasher.update(bytes[0..<63]); hasher.update(bytes[63..<64]); hasher.update(bytes[64..<700]); hasher.update(bytes[700...])
        #expect(hasher.finalize() == SHA256.hash(bytes))
        // FIPS 180-4's long vector: a million 'a's.
        #expect(
            SHA256.hash([UInt8](repeating: 0x61, count: 1_000_000)).hexString
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// The SHA-extension rounds (where this CPU has them) give the portable rounds' words on every block.
    @Test func bothCompressionPathsAgree() {
        var stream = RandomStream(seed: 7, purpose: .syntheticData)
        let blocks = 1000
        var data = [UInt8](repeating: 0, count: 64 * blocks)
        for i in data.indices { data[i] = UInt8(truncatingIfNeeded: stream.next()) }
        let start: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        var portable = start, dispatched = start
        for block in 0..<blocks {
            data.withUnsafeBufferPointer { bytes in
                vae_sha256_blocks_portable(&portable, bytes.baseAddress! + 64 * block, 1)
                vae_sha256_blocks(&dispatched, bytes.baseAddress! + 64 * block, 1)
            }
            #expect(portable == dispatched, "block \(block) (SHA extensions: \(vae_sha256_accelerated()))")
            if portable != dispatched { return }
        }
        var many = start
        data.withUnsafeBufferPointer { vae_sha256_blocks(&many, $0.baseAddress!, blocks) }
        #expect(many == portable)
    }
}
