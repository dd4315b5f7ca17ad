/// The sliding window of a 2-D convolution over one sample: `channels` planes of `height × width`, a square
/// `kernel`, `stride` and zero `padding`; the window fits `outputHeight × outputWidth` times,
/// outputHeight = ⌊(height + 2·padding − kernel) / stride⌋ + 1 (likewise the width).
///
/// `im2col` and `col2im` are an op pair (each the other's adjoint), the way convolutions become one `cblas_sgemm`:
/// the columns matrix is `[channels·kernel·kernel, outputHeight·outputWidth]`, row (c, i, j) holding input
/// (c, oh·stride − padding + i, ow·stride − padding + j) for every output position (oh, ow), zero outside.
public struct ConvGeometry: Equatable, Sendable {
    public let channels: Int, height: Int, width: Int
    public let kernel: Int, stride: Int, padding: Int
    public let outputHeight: Int, outputWidth: Int

    /// Nil when the window does not fit once (kernel larger than the padded input) or a size is not positive.
    public init?(channels: Int, height: Int, width: Int, kernel: Int, stride: Int, padding: Int) {
        guard channels > 0, height > 0, width > 0, kernel > 0, stride > 0, padding >= 0 else { return nil }
        guard height + 2 * padding >= kernel, width + 2 * padding >= kernel else { return nil }
        (self.channels, self.height, self.width) = (channels, height, width)
        (self.kernel, self.stride, self.padding) = (kernel, stride, padding)
        outputHeight = (height + 2 * padding - kernel) / stride + 1
        outputWidth = (width + 2 * padding - kernel) / stride + 1
    }

    /// Rows of the columns matrix: channels·kernel².
    public var patchSize: Int { channels * kernel * kernel }
    /// Columns of the columns matrix: output positions.
    public var positions: Int { outputHeight * outputWidth }
    /// Values of one input sample.
    public var inputSize: Int { channels * height * width }

    /// columns[(c, i, j), (oh, ow)] = input[c, oh·s − p + i, ow·s − p + j] (0 outside): overwrites `columns`.
    @inlinable
    public func im2col(_ input: UnsafePointer<Float>, _ columns: UnsafeMutablePointer<Float>) {
        var row = 0
        for c in 0..<channels {
            let plane = input + c * height * width
            for i in 0..<kernel {
                for j in 0..<kernel {
                    let out = columns + row * positions
                    for oh in 0..<outputHeight {
                        let y = oh * stride - padding + i
                        let line = out + oh * outputWidth
                        guard y >= 0 && y < height else {
                            line.update(repeating: 0, count: outputWidth)
                            continue
                        }
                        let source = plane + y * width
                        for ow in 0..<outputWidth {
                            let x = ow * stride - padding + j
                            line[ow] = x >= 0 && x < width ? source[x] : 0
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// The adjoint of ``im2col(_:_:)``: input[c, y, x] += every column entry that reads it. Accumulates into
    /// `input` (the caller zeroes it for an overwrite).
    @inlinable
    public func col2im(_ columns: UnsafePointer<Float>, _ input: UnsafeMutablePointer<Float>) {
        var row = 0
        for c in 0..<channels {
            let plane = input + c * height * width
            for i in 0..<kernel {
                for j in 0..<kernel {
                    let source = columns + row * positions
                    for oh in 0..<outputHeight {
                        let y = oh * stride - padding + i
                        guard y >= 0 && y < height else { continue }
                        let target = plane + y * width, line = source + oh * outputWidth
                        for ow in 0..<outputWidth {
                            let x = ow * stride - padding + j
                            if x >= 0 && x < width { target[x] += line[ow] }
                        }
                    }
                    row += 1
                }
            }
        }
    }
}
