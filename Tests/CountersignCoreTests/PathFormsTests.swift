import CountersignCore
import Testing

@Suite("Path forms")
struct PathFormsTests {
    @Test(
        "normalisation",
        arguments: [
            ("/repo/../root/.bashrc", "/root/.bashrc"), ("/repo/./../etc/passwd", "/etc/passwd"),
            ("/repo//../x", "/x"), ("/repo/sub/../../etc/x", "/etc/x"), ("/../../x", "/x"),
            ("//etc///passwd", "/etc/passwd"),
            ("./src/../a.swift", "./a.swift"), ("./src/../../a", "../a"), ("src/a.swift", "src/a.swift"),
            ("a/b/..", "a"), ("a/..", "."), ("../../etc/passwd", "../../etc/passwd"), ("~/x/../.ssh/id", "~/.ssh/id"),
            ("/repo/src/", "/repo/src/"), ("/repo/.../x", "/repo/.../x"), ("/repo/.hidden/x", "/repo/.hidden/x"),
            ("/", "/"), ("/repo/a.", "/repo/a."),
        ])
    func normalise(raw: String, expected: String) {
        #expect(PathForms.normalise(raw) == expected)
    }

    @Test func relativePathsAlsoResolveAgainstTheWorkingDirectory() {
        #expect(PathForms.forms("../../etc/passwd", cwd: "/repo") == ["../../etc/passwd", "/etc/passwd"])
        #expect(PathForms.forms("src/a.swift", cwd: "/repo") == ["src/a.swift", "/repo/src/a.swift"])
        #expect(PathForms.forms("/abs/x", cwd: "/repo") == ["/abs/x"])
        #expect(PathForms.forms("src/a", cwd: "relative") == ["src/a"])
        #expect(PathForms.forms("src/a", cwd: nil) == ["src/a"])
    }

    @Test func onlyPathLikeValuesAreNormalised() {
        #expect(PathForms.isPathLike("/repo/../x", fileSurface: false))
        #expect(!PathForms.isPathLike("https://x.example/../y", fileSurface: true))
        #expect(!PathForms.isPathLike("cat /repo/../x", fileSurface: false))
        #expect(PathForms.isPathLike("/My Documents/../x", fileSurface: true))
        #expect(!PathForms.isPathLike("hello", fileSurface: false))
    }

    @Test func theReceiptRecordsWhatWasMatched() {
        let envelope = ActionEnvelope(
            actor: "a", surface: "file", tool: "Write", intent: "write", target: "/repo/../root/.bashrc",
            args: ["file_path": "../x", "content": "../not/a/path/key"], metadata: ["cwd": "/repo"])
        #expect(
            envelope.normalizedPaths
                == ["target": ["/root/.bashrc"], "args": ["file_path": ["../x", "/x"]]])
        #expect(
            ActionEnvelope(actor: "a", surface: "file", tool: "Read", intent: "read", target: "/a/b").normalizedPaths
                == nil)
    }
}
