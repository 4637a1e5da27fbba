import CountersignCore
import CountersignLedger
import Foundation
import FuzzSupport

/// The input is the whole of a JSONL ledger file (the seeds are real ledgers, which the fuzzer corrupts).
/// It goes to a real file and through what `countersign verify` and every reader do:
/// - `verify` (the fast path: `ReceiptScanner` reading a receipt's top-level members without building it)
///   returns a report, never traps;
/// - a second verifier fed fully parsed receipts reaches the same verdict, first failing line and (for a
///   valid ledger) receipt count: the fast path may not accept what a full parse rejects, or the reverse;
/// - `query` and `count` read the same receipts;
/// - appending a receipt either throws (an unreadable last line) or extends the chain, and when the file
///   verified before, it still verifies, with one receipt more.
let directory = scratchDirectory("ledger")
let path = directory + "/ledger.jsonl"
let sealer = Sealer(key: SigningKey.generate())

@main
struct FuzzLedgerMain {
    static func main() { runFuzzer { data, size in fuzzLedger(input(data, size)) } }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLedger(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzLedger(input(data, size))
}

func fuzzLedger(_ bytes: UnsafeBufferPointer<UInt8>) -> CInt {
    clearScratch()
    guard FileManager.default.createFile(atPath: path, contents: Data(buffer: bytes)) else {
        fatalError("cannot write \(path)")
    }
    let store: JSONLStore
    let report: VerificationReport
    do {
        store = try JSONLStore(path: path)
        report = try store.verify(trust: TrustedSigners())
    } catch {
        finding("verify threw instead of reporting: \(error)")
    }
    _ = CanonicalJSON.string(report.json)

    // The same lines through a full parse.
    var full = ChainVerifier(source: path, kind: "jsonl", trust: TrustedSigners())
    full.requireCanonical = true  // as a ledger's verify does
    var lines = 0
    do {
        try store.scan { record in
            lines += 1
            full.add(record)
        }
    } catch {
        finding("scan threw: \(error)")
    }
    var slow = full.finish()
    if slow.receipts == 0 && slow.failures.isEmpty { slow.fail("empty") }  // a ledger's verify: never valid empty
    guard slow.valid == report.valid, slow.firstFailure?.position == report.firstFailure?.position,
        !report.valid || slow.receipts == report.receipts
    else {
        finding(
            "the fast and the full verifier disagree: fast \(summary(report)), full \(summary(slow))")
    }

    let queried: [Receipt]
    let counted: Int
    do {
        queried = try store.query(ReceiptQuery())
        counted = try store.count()
    } catch {
        finding("query or count threw: \(error)")
    }
    guard queried.count == counted, counted <= lines else {
        finding("query read \(queried.count) receipts, count \(counted), of \(lines) lines")
    }

    let draft = ReceiptDraft(kind: .event, status: "fuzz", extra: ["event": ["type": "fuzz"]])
    do {
        _ = try store.append([draft], sealer: sealer)
    } catch {
        return 0  // an unreadable last receipt: refusing to extend the chain is the right answer
    }
    let after: VerificationReport
    do {
        after = try JSONLStore(path: path).verify(trust: TrustedSigners())
    } catch {
        finding("verify threw after an append: \(error)")
    }
    if report.valid && !after.valid {
        finding("a valid ledger no longer verifies after an append: \(summary(after))")
    }
    if report.valid && after.receipts != report.receipts + 1 {
        finding("an append to a valid ledger of \(report.receipts) receipts left \(after.receipts)")
    }
    return 0
}

func summary(_ report: VerificationReport) -> String {
    let failures = report.failures.map { "line \($0.position): \($0.reason)" }.joined(separator: "; ")
    return "valid=\(report.valid) receipts=\(report.receipts) [\(failures)]"
}

/// The ledger and anything the torn-write recovery set aside.
func clearScratch() {
    for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
        try? FileManager.default.removeItem(atPath: directory + "/" + name)
    }
}
