import Testing

@testable import CountersignPolicy

@Suite("Regex prefilter and Python syntax")
struct PatternTests {
    @Test(
        "required literals",
        arguments: [
            (#"(^|\s)rm\s+-rf(\s|$)"#, ["-rf"]),
            (#"^https://example\.com/?$"#, ["https://example.com"]),
            (#"(^|[\s;&|])rm\s+-(rf|fr)\b|git\s+reset\s+--hard|mkfs\.|dd\s+if="#, ["rm", "--hard", "mkfs.", "if="]),
            (#"(^|[;&|]\s*|\s)(sudo|doas)\s"#, ["sudo", "doas"]),
            (#"x{10}y"#, nil),
            (#"ab{2,3}cd"#, ["cd"]),
            (#"(?i)(pay|checkout)"#, nil),
            (#"a|b.*"#, nil),
            (#"(?:foo|bar)baz"#, ["foo", "bar"]),
            (#"(abc)?defg"#, ["defg"]),
            (#"colou?r"#, ["colo"]),
        ] as [(String, [String]?)])
    func literals(pattern: String, expected: [String]?) {
        #expect(Pattern.requiredLiterals(pattern) == expected)
    }

    @Test func prefilterNeverChangesTheAnswer() throws {
        let patterns = [
            #"(^|\s)rm\s+-rf(\s|$)"#, #"(^|[\s;&|])rm\s+-(rf|fr)\b|git\s+reset\s+--hard|mkfs\.|dd\s+if="#,
            #"^\s*(ls|pwd|cat|git (status|diff))(\s[^;&|`$<>]*)?$"#, #"colou?r"#, #"ab{2,3}cd"#, #"(?:foo|bar)baz"#,
        ]
        let inputs = [
            "rm -rf /", "farm -rfx", "git reset --hard", "mkfs.ext4 /dev/sda", "dd if=/dev/zero", "ls -la",
            "git status",
            "color", "colour", "abbcd", "abbbbcd", "foobaz", "barbaz", "bazfoo", "", "cat x; rm y",
        ]
        for source in patterns {
            let pattern = try Pattern(source)
            let plain = try Regex(source)
            for input in inputs {
                #expect(pattern.search(input) == ((try? plain.firstMatch(in: input)) != nil), "\(source) on \(input)")
            }
        }
    }

    @Test func pythonSyntaxIsTranslated() throws {
        #expect(try Pattern(#"(?P<verb>push|pull) (?P=verb)"#).search("push push"))
        #expect(try !Pattern(#"(?P<verb>push|pull) (?P=verb)"#).search("push pull"))
        #expect(try Pattern(#"main\Z"#).search("git push origin main"))
        #expect(try !Pattern(#"main\Z"#).search("main\n"))
    }
}
