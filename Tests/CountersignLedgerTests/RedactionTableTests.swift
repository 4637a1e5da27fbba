import CountersignCore
import CountersignLedger
import Testing

/// One case per secret shape: the secret never survives redaction, and the text around it does.
@Suite("Redaction table")
struct RedactionTableTests {
    static let cases: [(name: String, text: String, secret: String, kept: String)] = [
        ("URL credentials", "connect to postgres://admin:S3cr3t@db.example:5432/app", "S3cr3t", "db.example"),
        ("quoted env value", "export PASSWORD='hunter2xyz' && run", "hunter2xyz", "export"),
        ("double-quoted env value", #"DB_PASSWORD="hunter2xyz""#, "hunter2xyz", "DB_PASSWORD"),
        ("command-line flag", "mysql --password hunter2xyz -h db", "hunter2xyz", "mysql"),
        ("flag with equals", "tool --api-key=abcd1234efgh --verbose", "abcd1234efgh", "--verbose"),
        ("JSON inside a string", #"{\"user\": \"bob\", \"password\": \"hunter2xyz\"}"#, "hunter2xyz", "bob"),
        (
            "AWS secret access key field", #"{"SecretAccessKey":"wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"}"#,
            "wJalrXUtnFEMI", "SecretAccessKey"
        ),
        (
            "Authorization Token header", "Authorization: Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b",
            "9944b09199c6", "Authorization"
        ),
        ("Cookie header", "Cookie: session=abc123def456; theme=dark", "abc123def456", "Cookie"),
        ("Set-Cookie header", "Set-Cookie: sid=31d4d96e407aad42; Path=/", "31d4d96e407aad42", "Set-Cookie"),
        ("Stripe live key", "charge with sk_live_4eC39HqLyjWDarjtT1zdp7dc now", "4eC39HqLyjWDarjtT1zdp7dc", "charge"),
        ("Stripe restricted key", "rk_test_51HxExampleKey000111", "51HxExampleKey000111", ""),
        (
            "PGP private key block",
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF0AAAAB\n-----END PGP PRIVATE KEY BLOCK-----", "lQOYBF0AAAAB",
            "",
        ),
        ("Slack app token", "token xapp-1-A0123456789-1234567890123-abcdef", "A0123456789-1234567890123", ""),
        (
            "Slack webhook", "post to https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
            "XXXXXXXXXXXXXXXXXXXXXXXX", "hooks.slack.com",
        ),
        ("Google API key", "key AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe", "SyDaGmWKa4JsXZ", ""),
        ("GitLab token", "glpat-xxxxxxxxxxxxxxxxxxxx1 here", "xxxxxxxxxxxxxxxxxxxx1", "here"),
        ("npm token", "npm_abcdefghijklmnopqrstuvwxyz0123456789", "abcdefghijklmnop", ""),
        ("Hugging Face token", "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH", "abcdefghijklmnop", ""),
        (
            "SendGrid key", "SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            "abcdefghijklmnopqrstuv", ""
        ),
        ("bearer token", "Bearer eyJhbGciOiJIUzI1NiJ9.payload", "eyJhbGciOiJIUzI1NiJ9", ""),
        ("GitHub token", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "abcdefghijklmnopqrstuvwxyz0123", ""),
        ("AWS access key id", "AKIAIOSFODNN7EXAMPLE", "IOSFODNN7EXAMPLE", ""),
        ("OpenAI key", "sk-proj-abcdefghijklmnop1234", "abcdefghijklmnop1234", ""),
        (
            "Azure account key", "DefaultEndpointsProtocol=https;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDX==;",
            "Eby8vdM02xNOcq", "DefaultEndpointsProtocol"
        ),
    ]

    @Test(arguments: cases.indices)
    func secretIsRemoved(index: Int) {
        let c = Self.cases[index]
        let redacted = Redactor().redact(c.text)
        #expect(!redacted.contains(c.secret), "\(c.name): \(redacted)")
        #expect(c.kept.isEmpty || redacted.contains(c.kept), "\(c.name) kept the rest: \(redacted)")
        // Inside JSON fields too.
        let value = Redactor().redact(JSONValue.object(["note": .string(c.text)]))
        #expect(!CanonicalJSON.string(value).contains(c.secret), "\(c.name) in JSON")
    }

    @Test func fieldsNamedLikeSecretsAreRedactedWhole() {
        let value = Redactor().redact(
            [
                "SecretAccessKey": "x1", "DB_PASSWORD": "x2", "x-api-key": "x3", "client_secret": "x4",
                "max_tokens": 1000,
            ])
        #expect(value["SecretAccessKey"] == .string(Redactor.marker))
        #expect(value["DB_PASSWORD"] == .string(Redactor.marker))
        #expect(value["x-api-key"] == .string(Redactor.marker))
        #expect(value["client_secret"] == .string(Redactor.marker))
        #expect(value["max_tokens"] == 1000)
    }

    @Test func ordinaryTextIsLeftAlone() {
        for text in [
            "the token limit was exceeded", "git push origin main", "max_tokens=100", "see https://example.com/a:b",
            "--verbose --dry-run", "a basic question",
        ] {
            #expect(Redactor().redact(text) == text, "\(text)")
        }
    }
}
