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

    /// The output positions `[low, high)` along one axis whose window offset `offset` (i or j) lands inside
    /// `0..<size`: position·stride − padding + offset ∈ [0, size). Computed once per row of the columns, so the
    /// copy loops below have no bounds test.
    @inlinable
    func validRange(offset: Int, size: Int, positions: Int) -> Range<Int> {
        let shift = padding - offset
        let low = shift <= 0 ? 0 : min(positions, (shift + stride - 1) / stride)
        let last = size - 1 + shift
        let high = last < 0 ? 0 : min(positions, last / stride + 1)
        return low..<max(low, high)
    }

    /// columns[(c, i, j), (oh, ow)] = input[c, oh·s − p + i, ow·s − p + j] (0 outside): overwrites `columns`, whose
    /// rows are `rowStride` floats apart (default ``positions``; a batch's samples side by side: batch·positions).
    @inlinable
    public func im2col(_ input: UnsafePointer<Float>, _ columns: UnsafeMutablePointer<Float>, rowStride: Int? = nil) {
        let rowStride = rowStride ?? positions
        var row = 0
        for c in 0..<channels {
            let plane = input + c * height * width
            for i in 0..<kernel {
                let rows = validRange(offset: i, size: height, positions: outputHeight)
                for j in 0..<kernel {
                    let out = columns + row * rowStride
                    let cols = validRange(offset: j, size: width, positions: outputWidth)
                    if rows.lowerBound > 0 { out.update(repeating: 0, count: rows.lowerBound * outputWidth) }
                    for oh in rows {
                        let line = out + oh * outputWidth
                        let source = plane + (oh * stride - padding + i) * width + (cols.lowerBound * stride - padding + j)
                        for ow in 0..<cols.lowerBound { line[ow] = 0 }
                        let target = line + cols.lowerBound
                        if stride == 1 {
                            target.update(from: source, count: cols.count)
                        } else {
                            for k in 0..<cols.count { target[k] = source[k * stride] }
                        }
                        for ow in cols.upperBound..<outputWidth { line[ow] = 0 }
                    }
                    if rows.upperBound < outputHeight {
                        (out + rows.upperBound * outputWidth).update(
                            repeating: 0, count: (outputHeight - rows.upperBound) * outputWidth)
                    }
                    row += 1
                }
            }
        }
    }

    /// The adjoint of ``im2col(_:_:rowStride:)``: input[c, y, x] += every column entry that reads it. Accumulates
    /// into `input` (the caller zeroes it for an overwrite).
    @inlinable
    public func col2im(_ columns: UnsafePointer<Float>, _ input: UnsafeMutablePointer<Float>, rowStride: Int? = nil) {
        let rowStride = rowStride ?? positions
        var row = 0
        for c in 0..<channels {
            let plane = input + c * height * width
            for i in 0..<kernel {
                let rows = validRange(offset: i, size: height, positions: outputHeight)
                for j in 0..<kernel {
                    let source = columns + row * rowStride
                    let cols = validRange(offset: j, size: width, positions: outputWidth)
                    for oh in rows {
                        let line = source + oh * outputWidth + cols.lowerBound
                        let target = plane + (oh * stride - padding + i) * width + (cols.lowerBound * stride - padding + j)
                        for k in 0..<cols.count { target[k * stride] += line[k] }
                    }
                    row += 1
                }
            }
        }
    }
}
