/// What build this is: the release version and the source revision it was built from (recorded by the
/// `SourceRevision` build plugin), for `--version` and the run folder's `run.json`.
public enum BuildInfo {
    /// vae-dist's version.
    public static let version = "0.14.0"
    /// The git commit the binary was built from (`-dirty`: with uncommitted changes to tracked files; `unknown`:
    /// built outside a git checkout).
    public static let revision = sourceRevision
    /// `0.14.0 (COMMIT)`.
    public static var description: String { "\(version) (\(revision))" }
}
