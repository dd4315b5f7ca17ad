import Foundation
import Testing
import VAEModel

/// Conv2d and ConvTranspose2d (im2col + sgemm) against direct loops in double precision, forward and backward,
/// over odd sizes: strides 1 and 2, paddings 0–2, non-square images, 1 and 3 channels, output_padding.
@Suite struct ConvolutionTests {
    /// (batch, in channels, out channels, height, width, kernel, stride, padding, output_padding)
    typealias Case = (batch: Int, c: Int, o: Int, h: Int, w: Int, k: Int, s: Int, p: Int, op: Int)
    static let cases: [Case] = [
        (2, 1, 4, 7, 5, 3, 1, 0, 0), (3, 3, 2, 8, 6, 4, 2, 1, 0), (1, 3, 5, 9, 7, 3, 2, 2, 1),
        (2, 1, 3, 6, 11, 5, 1, 2, 0), (2, 2, 3, 5, 5, 2, 2, 0, 1), (1, 1, 1, 4, 3, 1, 1, 0, 0), (2, 1, 2, 1, 3, 5, 1, 2, 0),
        (1, 2, 2, 2, 2, 5, 3, 2, 2),
    ]

    /// A deterministic value in [−1, 1) for index i of a tensor tagged `t`.
    static func values(_ count: Int, _ t: Int) -> [Float] {
        (0..<count).map { i in Float((i &* 7919 &+ t &* 104729) % 2003) / 1001.5 - 1 }
    }

    static func expectAllClose(
        _ got: [Float], _ want: [Double], _ what: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(got.count == want.count, "\(what): \(got.count) values, expected \(want.count)", sourceLocation: sourceLocation)
        let worst = zip(got, want).map { abs(Double($0) - $1) - 1e-4 * abs($1) }.max() ?? 0
        #expect(worst <= 1e-4, "\(what): off by \(worst) beyond the tolerance", sourceLocation: sourceLocation)
    }

    @Test(arguments: cases) func conv2dMatchesDirectLoops(_ t: Case) throws {
        let g = try #require(ConvGeometry(channels: t.c, height: t.h, width: t.w, kernel: t.k, stride: t.s, padding: t.p))
        #expect(g.outputHeight == (t.h + 2 * t.p - t.k) / t.s + 1 && g.outputWidth == (t.w + 2 * t.p - t.k) / t.s + 1)
        let (oh, ow) = (g.outputHeight, g.outputWidth)
        let x = Self.values(t.batch * t.c * t.h * t.w, 1), w = Self.values(t.o * t.c * t.k * t.k, 2)
        let b = Self.values(t.o, 3), dy = Self.values(t.batch * t.o * oh * ow, 4)
        // Direct loops.
        var y = [Double](repeating: 0, count: dy.count), dx = [Double](repeating: 0, count: x.count)
        var dw = [Double](repeating: 0, count: w.count), db = [Double](repeating: 0, count: t.o)
        for n in 0..<t.batch {
            for o in 0..<t.o {
                for r in 0..<oh {
                    for q in 0..<ow {
                        let yi = ((n * t.o + o) * oh + r) * ow + q
                        var sum = Double(b[o])
                        db[o] += Double(dy[yi])
                        for c in 0..<t.c {
                            for i in 0..<t.k {
                                for j in 0..<t.k {
                                    let (py, px) = (r * t.s - t.p + i, q * t.s - t.p + j)
                                    guard py >= 0 && py < t.h && px >= 0 && px < t.w else { continue }
                                    let xi = ((n * t.c + c) * t.h + py) * t.w + px, wi = ((o * t.c + c) * t.k + i) * t.k + j
                                    sum += Double(x[xi]) * Double(w[wi])
                                    dw[wi] += Double(dy[yi]) * Double(x[xi])
                                    dx[xi] += Double(dy[yi]) * Double(w[wi])
                                }
                            }
                        }
                        y[yi] = sum
                    }
                }
            }
        }
        var columns = [Float](repeating: .nan, count: g.patchSize * g.positions)
        var got = [Float](repeating: .nan, count: dy.count)
        Conv2d.forward(
            input: x, weight: w, bias: b, output: &got, batch: t.batch, geometry: g, outputChannels: t.o, columns: &columns)
        Self.expectAllClose(got, y, "y")
        var gotDW = [Float](repeating: .nan, count: w.count), gotDB = [Float](repeating: .nan, count: t.o)
        var gotDX = [Float](repeating: .nan, count: x.count)
        // Overwrite, then accumulate a second pass on top: twice the gradient.
        for accumulate in [false, true] {
            Conv2d.backward(
                input: x, weight: w, outputGradient: dy, weightGradient: &gotDW, biasGradient: &gotDB, inputGradient: &gotDX,
                batch: t.batch, geometry: g, outputChannels: t.o, accumulate: accumulate, columns: &columns)
            let times = accumulate ? 2.0 : 1.0
            Self.expectAllClose(gotDW, dw.map { $0 * times }, "dW (accumulate: \(accumulate))")
            Self.expectAllClose(gotDB, db.map { $0 * times }, "db (accumulate: \(accumulate))")
            Self.expectAllClose(gotDX, dx, "dx, always overwritten")
        }
    }

    @Test(arguments: cases) func convTranspose2dMatchesDirectLoops(_ t: Case) throws {
        // x [batch, c, h, w] → y [batch, o, H, W], H = (h − 1)·s − 2p + k + op.
        let (hh, ww) = ((t.h - 1) * t.s - 2 * t.p + t.k + t.op, (t.w - 1) * t.s - 2 * t.p + t.k + t.op)
        try #require(hh > 0 && ww > 0 && t.op < t.s || t.op == 0, "a case PyTorch accepts")
        let g = try #require(ConvGeometry(channels: t.o, height: hh, width: ww, kernel: t.k, stride: t.s, padding: t.p))
        #expect(g.outputHeight == t.h && g.outputWidth == t.w, "the adjoint convolution's positions are x's pixels")
        let x = Self.values(t.batch * t.c * t.h * t.w, 5), w = Self.values(t.c * t.o * t.k * t.k, 6)
        let b = Self.values(t.o, 7), dy = Self.values(t.batch * t.o * hh * ww, 8)
        var y = [Double](repeating: 0, count: dy.count), dx = [Double](repeating: 0, count: x.count)
        var dw = [Double](repeating: 0, count: w.count), db = [Double](repeating: 0, count: t.o)
        for n in 0..<t.batch {
            for o in 0..<t.o {
                for p in 0..<(hh * ww) {
                    y[(n * t.o + o) * hh * ww + p] = Double(b[o]); db[o] += Double(dy[(n * t.o + o) * hh * ww + p])
                }
            }
            for c in 0..<t.c {
                for r in 0..<t.h {
                    for q in 0..<t.w {
                        let xi = ((n * t.c + c) * t.h + r) * t.w + q
                        for o in 0..<t.o {
                            for i in 0..<t.k {
                                for j in 0..<t.k {
                                    let (py, px) = (r * t.s - t.p + i, q * t.s - t.p + j)
                                    guard py >= 0 && py < hh && px >= 0 && px < ww else { continue }
                                    let yi = ((n * t.o + o) * hh + py) * ww + px, wi = ((c * t.o + o) * t.k + i) * t.k + j
                                    y[yi] += Double(x[xi]) * Double(w[wi])
                                    dx[xi] += Double(dy[yi]) * Double(w[wi])
                                    dw[wi] += Double(x[xi]) * Double(dy[yi])
                                }
                            }
                        }
                    }
                }
            }
        }
        var columns = [Float](repeating: .nan, count: g.patchSize * g.positions)
        var got = [Float](repeating: .nan, count: dy.count)
        ConvTranspose2d.forward(
            input: x, weight: w, bias: b, output: &got, batch: t.batch, geometry: g, inputChannels: t.c, columns: &columns)
        Self.expectAllClose(got, y, "y")
        var gotDW = [Float](repeating: .nan, count: w.count), gotDB = [Float](repeating: .nan, count: t.o)
        var gotDX = [Float](repeating: .nan, count: x.count)
        for accumulate in [false, true] {
            ConvTranspose2d.backward(
                input: x, weight: w, outputGradient: dy, weightGradient: &gotDW, biasGradient: &gotDB, inputGradient: &gotDX,
                batch: t.batch, geometry: g, inputChannels: t.c, accumulate: accumulate, columns: &columns)
            let times = accumulate ? 2.0 : 1.0
            Self.expectAllClose(gotDW, dw.map { $0 * times }, "dW (accumulate: \(accumulate))")
            Self.expectAllClose(gotDB, db.map { $0 * times }, "db (accumulate: \(accumulate))")
            Self.expectAllClose(gotDX, dx, "dx, always overwritten")
        }
    }

    @Test func windowsThatDoNotFitAreRefused() {
        #expect(ConvGeometry(channels: 1, height: 2, width: 9, kernel: 5, stride: 1, padding: 1) == nil)
        #expect(ConvGeometry(channels: 0, height: 8, width: 8, kernel: 3, stride: 1, padding: 0) == nil)
        #expect(ConvGeometry(channels: 1, height: 8, width: 8, kernel: 3, stride: 0, padding: 0) == nil)
        let g = ConvGeometry(channels: 1, height: 28, width: 28, kernel: 4, stride: 2, padding: 1)
        #expect(g?.outputHeight == 14 && g?.outputWidth == 14)
    }
}
