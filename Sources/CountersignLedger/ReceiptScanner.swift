import CountersignCore

/// Reads the top-level members verification needs from a receipt's stored text, skipping nested values
/// without building them — a full parse of every receipt would dominate verifying a large ledger.
/// Returns nil for anything unusual (escaped keys, a non-object), and the caller parses fully instead.
struct ReceiptScanner {
    struct Fields {
        var schema: String?
        var seq: Int64?
        var id: String?
        var kind: String?
        var prev: String?
        var hash: String?
        var signature: String?
        var signer: String?
        var signerPublicKey: String?
        /// The top-level `caller.isolation` (receipts written before callers were recorded have none).
        var isolation: String?
        /// Checkpoints carry `pruned`; those are parsed fully.
        var hasPruned = false
        /// Other top-level string-or-null members (the SQLite index columns), by name.
        var others: [String: String?] = [:]
    }

    /// The SQLite index columns that mirror a member of the body (`rule_id` mirrors `policy.rule_id`).
    static let indexed: [String] = [
        "id", "time", "kind", "status", "decision", "session_id", "trace_id", "action_hash", "rule_id", "prev",
    ]

    static func fields(of text: String) -> Fields? {
        var copy = text
        return copy.withUTF8 { bytes -> Fields? in
            var scanner = Scanner(bytes: bytes)
            return scanner.scanTopLevel()
        }
    }

    struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var i = 0

        mutating func scanTopLevel() -> Fields? {
            guard bytes.count > 1, bytes[0] == 0x7B else { return nil }
            i = 1
            var fields = Fields()
            if bytes[i] == 0x7D { return fields }
            while i < bytes.count {
                guard let key = plainString() else { return nil }
                guard i < bytes.count, bytes[i] == 0x3A else { return nil }
                i += 1
                switch key {
                case "schema": fields.schema = plainString()
                case "time", "status", "decision", "session_id", "trace_id", "action_hash":
                    if i + 4 <= bytes.count, bytes[i] == 0x6E {  // null
                        fields.others[key] = .some(nil)
                        i += 4
                    } else {
                        guard let value = plainString() else { return nil }
                        fields.others[key] = value
                    }
                case "id":
                    fields.id = plainString()
                    fields.others["id"] = fields.id
                case "policy":
                    // Small and rare enough to parse: only its rule id is indexed.
                    let start = i
                    guard skipValue() else { return nil }
                    let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
                    guard let policy = try? JSONValue.parse(text) else { return nil }
                    fields.others["rule_id"] = .some(policy["rule_id"]?.stringValue)
                case "caller":
                    // Small: uid, gid, pid and isolation. Read at the top level only (an action's arguments
                    // can hold an object named "caller" too).
                    let start = i
                    guard skipValue() else { return nil }
                    let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
                    fields.isolation = (try? JSONValue.parse(text))?["isolation"]?.stringValue
                case "kind":
                    fields.kind = plainString()
                    fields.others["kind"] = fields.kind
                case "prev":
                    fields.prev = plainString()
                    fields.others["prev"] = fields.prev
                case "hash": fields.hash = plainString()
                case "signature": fields.signature = plainString()
                case "signer": fields.signer = plainString()
                case "signer_public_key": fields.signerPublicKey = plainString()
                case "seq": fields.seq = integer()
                case "pruned":
                    fields.hasPruned = true
                    guard skipValue() else { return nil }
                default:
                    guard skipValue() else { return nil }
                }
                guard i < bytes.count else { return nil }
                if bytes[i] == 0x2C {
                    i += 1
                    continue
                }
                return bytes[i] == 0x7D && i == bytes.count - 1 ? fields : nil
            }
            return nil
        }

        /// A string with no escapes (what canonical receipts use for these members), or nil.
        mutating func plainString() -> String? {
            guard i < bytes.count, bytes[i] == 0x22 else { return nil }
            let start = i + 1
            var j = start
            while j < bytes.count, bytes[j] != 0x22 {
                if bytes[j] == 0x5C { return nil }
                j += 1
            }
            guard j < bytes.count else { return nil }
            i = j + 1
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<j]), as: UTF8.self)
        }

        mutating func integer() -> Int64? {
            var value: Int64 = 0
            let start = i
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 {
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int64(bytes[i] - 0x30))
                if o1 || o2 { return nil }
                value = a
                i += 1
            }
            return i > start ? value : nil
        }

        /// Skips one JSON value (validated loosely: brackets balance, strings close).
        mutating func skipValue() -> Bool {
            var depth = 0
            while i < bytes.count {
                switch bytes[i] {
                case 0x22:
                    i += 1
                    while i < bytes.count, bytes[i] != 0x22 { i += bytes[i] == 0x5C ? 2 : 1 }
                    guard i < bytes.count else { return false }
                    i += 1
                case 0x7B, 0x5B:
                    depth += 1
                    i += 1
                case 0x7D, 0x5D:
                    if depth == 0 { return true }
                    depth -= 1
                    i += 1
                case 0x2C:
                    if depth == 0 { return true }
                    i += 1
                default:
                    i += 1
                }
                if depth == 0, i < bytes.count, bytes[i] == 0x2C || bytes[i] == 0x7D { return true }
            }
            return false
        }
    }
}
