/// The tests' one closeness rule, PyTorch's `isclose`: |a − b| ≤ absolute + relative·|b|.
public func isClose(_ a: Double, _ b: Double, relative: Double, absolute: Double) -> Bool {
    abs(a - b) <= absolute + relative * abs(b)
}
