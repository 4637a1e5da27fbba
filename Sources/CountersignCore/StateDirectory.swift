import Foundation

/// Where Countersign keeps its state: `$COUNTERSIGN_HOME`, else `.countersign` in the working directory.
public enum StateDirectory {
    public static var path: String {
        let env = ProcessInfo.processInfo.environment["COUNTERSIGN_HOME"]
        return env?.isEmpty == false ? env! : ".countersign"
    }

    public static var defaultLedger: String { path + "/ledger.sqlite" }

    /// Makes every file this process creates private to its user (0600, directories 0700): ledgers,
    /// session state, pins, keys and their SQLite journals hold what agents did and saw. Called first thing
    /// by every executable.
    public static func restrictNewFiles() {
        umask(0o077)
    }
}

/// Comparisons whose duration does not depend on where the inputs differ (tokens, MACs).
public enum ConstantTime {
    public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for i in 0..<max(a.count, b.count) {
            diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return diff == 0
    }

    public static func equal(_ a: String, _ b: String) -> Bool { equal(Array(a.utf8), Array(b.utf8)) }
}
