import Foundation
import PackagePlugin

/// Writes `SourceRevision.swift` (`let sourceRevision = "COMMIT"`, `-dirty` when tracked files differ from it,
/// `unknown` outside a git checkout) before every build of the target that uses it. The file is rewritten only
/// when the text changes, so an unchanged revision rebuilds nothing.
@main struct SourceRevision: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
        let folder = context.pluginWorkDirectoryURL.appendingPathComponent("generated")
        let file = folder.appendingPathComponent("SourceRevision.swift")
        let script = """
            mkdir -p "$1" || exit 1
            revision=$(git -C "$2" rev-parse HEAD 2>/dev/null) || revision=unknown
            if [ "$revision" != unknown ] && [ -n "$(git -C "$2" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
              revision="$revision-dirty"
            fi
            text="let sourceRevision = \\"$revision\\""
            [ "$(cat "$3" 2>/dev/null)" = "$text" ] || printf '%s\\n' "$text" > "$3"
            """
        return [
            .prebuildCommand(
                displayName: "Recording the source revision", executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: ["-c", script, "sh", folder.path, context.package.directoryURL.path, file.path],
                outputFilesDirectory: folder)
        ]
    }
}
