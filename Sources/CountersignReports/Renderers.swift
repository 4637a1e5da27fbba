import CountersignCore
import CountersignLedger

/// Receipts of one trace, in chain order.
public struct Trace: Sendable {
    public let id: String
    public let receipts: [Receipt]
    public var start: String { receipts.first?.time ?? "" }
    public var end: String { receipts.last?.time ?? "" }
}

/// Text renderings of receipts: table, timeline, Markdown.
public enum Render {
    /// Groups by trace id in order of first appearance; receipts without one are traces of their own.
    public static func traces(_ receipts: [Receipt]) -> [Trace] {
        var order: [String] = []
        var groups: [String: [Receipt]] = [:]
        var anonymous = 0
        for receipt in receipts {
            let id: String
            if let trace = receipt.traceID, !trace.isEmpty {
                id = trace
            } else {
                anonymous += 1
                id = "(no-trace-\(anonymous))"
            }
            if groups[id] == nil { order.append(id) }
            groups[id, default: []].append(receipt)
        }
        return order.map { Trace(id: $0, receipts: groups[$0]!) }
    }

    static func tool(_ r: Receipt) -> String { r.action?["tool"]?.stringValue ?? "-" }
    static func cell(_ s: String?, width: Int = 40) -> String {
        guard let s, !s.isEmpty else { return "-" }
        let safe = TerminalSafe.neutralise(s).replacingNewlines()
        return safe.count > width ? String(safe.prefix(width - 1)) + "…" : safe
    }

    public static func table(_ receipts: [Receipt]) -> String {
        guard !receipts.isEmpty else { return "(no receipts matched)\n" }
        let header = ["seq", "time", "kind", "status", "decision", "rule", "tool", "trace"]
        let rows = receipts.map { r in
            [
                String(r.seq), r.time, r.kind, r.status, cell(r.decision), cell(r.ruleID, width: 36),
                cell(tool(r), width: 24), cell(r.traceID, width: 36),
            ]
        }
        var widths = header.map(\.count)
        for row in rows { for (i, c) in row.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(
                separator: "  "
            )
            .trimmingTrailingSpaces()
        }
        return ([line(header), line(widths.map { String(repeating: "-", count: $0) })] + rows.map(line)).joined(
            separator: "\n") + "\n"
    }

    public static func timeline(_ receipts: [Receipt]) -> String {
        guard !receipts.isEmpty else { return "(no receipts matched)\n" }
        var blocks: [String] = []
        for trace in traces(receipts) {
            var lines = [
                "trace: \(cell(trace.id, width: 200))",
                "  \(trace.start) → \(trace.end), \(trace.receipts.count) receipt(s)",
            ]
            for (index, r) in trace.receipts.enumerated() {
                var line = "  \(index + 1). #\(r.seq) \(r.time) \(r.kind) \(r.status)"
                if let d = r.decision { line += " \(d)" }
                if let rule = r.ruleID { line += " rule=\(rule)" }
                lines.append(line)
                if let action = r.action, let tool = action["tool"]?.stringValue {
                    let target = action["target"]?.stringValue.map { " → \(cell($0, width: 80))" } ?? ""
                    lines.append("     \(action["actor"]?.stringValue ?? "?") \(tool)\(target)")
                }
                for vote in r.body["approvals"]?.arrayValue ?? [] where r.kind == "approval" {
                    lines.append(
                        "     \(vote["verdict"]?.stringValue ?? "?") by \(vote["reviewer"]?.stringValue ?? "?") via \(vote["channel"]?.stringValue ?? "?")"
                            + (vote["note"]?.stringValue.map { ": \(cell($0, width: 80))" } ?? ""))
                }
                if let error = r.error { lines.append("     error: \(cell(error, width: 120))") }
                if let preview = r.body["result"]?["preview"]?.stringValue {
                    lines.append("     result: \(cell(preview, width: 120))")
                }
            }
            blocks.append(lines.joined(separator: "\n"))
        }
        return blocks.joined(separator: "\n\n") + "\n"
    }

    public static func markdown(_ receipts: [Receipt], title: String = "Countersign audit report") -> String {
        var out = "# \(title)\n\n"
        guard !receipts.isEmpty else { return out + "_No receipts matched._\n" }
        let traces = traces(receipts)
        out +=
            "## Summary\n\n- receipts: \(receipts.count)\n- traces: \(traces.count)\n- from \(receipts.first!.time) to \(receipts.last!.time)\n- seq \(receipts.first!.seq)…\(receipts.last!.seq), head `\(receipts.last!.hash)`\n\n"
        func breakdown(_ name: String, _ key: (Receipt) -> String?) {
            var counts: [String: Int] = [:]
            for r in receipts { counts[key(r) ?? "(none)", default: 0] += 1 }
            out += "## \(name)\n\n"
            for (k, v) in counts.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }) {
                out += "- \(escape(k)): \(v)\n"
            }
            out += "\n"
        }
        breakdown("Decisions") { $0.kind == "decision" ? $0.decision : nil }
        breakdown("Statuses") { $0.status }
        breakdown("Rules") { $0.ruleID }
        for trace in traces {
            out += "## Trace `\(trace.id.replacingOccurrences(of: "`", with: "'"))`\n\n"
            out += "| seq | time | kind | status | decision | rule | action |\n|---|---|---|---|---|---|---|\n"
            for r in trace.receipts {
                let action =
                    r.action.map { "\($0["tool"]?.stringValue ?? "?") \($0["target"]?.stringValue ?? "")" } ?? ""
                out +=
                    "| \(r.seq) | \(r.time) | \(r.kind) | \(r.status) | \(escape(r.decision ?? "")) | \(escape(r.ruleID ?? "")) | \(escape(cell(action, width: 60))) |\n"
            }
            out += "\n"
        }
        return out
    }

    static func escape(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|").replacingNewlines() }
}

extension String {
    func replacingNewlines() -> String {
        var out = ""
        for c in self { out += (c == "\n" || c == "\r") ? "⏎" : String(c) }
        return out
    }

    func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
