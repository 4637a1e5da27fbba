import CFuzzerDriver
import CountersignCore
import CountersignGate
import CountersignLedger
import CountersignPolicy
import Dispatch
import Foundation

/// A target's test function: one input, as libFuzzer passes it.
public typealias FuzzTest = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

/// Starts libFuzzer with the process's arguments and `test`; exits with libFuzzer's status.
public func runFuzzer(_ test: FuzzTest) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, test))
}

/// The input as a buffer (libFuzzer may pass a null pointer for an empty input).
public func input(_ data: UnsafePointer<UInt8>?, _ size: Int) -> UnsafeBufferPointer<UInt8> {
    UnsafeBufferPointer(start: size > 0 ? data : nil, count: size)
}

/// A broken invariant: trap with a message libFuzzer prints beside the crashing input.
public func finding(_ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    fatalError("fuzz finding: \(message())", file: file, line: line)
}

/// The repository's root, found from this file's path at build time (the fuzz binaries run in the checkout).
public let repositoryRoot: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .path

/// Loads a policy from examples/policies, or traps: the fuzz target cannot run without it.
public func examplePolicy(_ name: String) -> Policy {
    let path = repositoryRoot + "/examples/policies/" + name
    do {
        return try Policy.load(path: path)
    } catch {
        fatalError("cannot load \(path): \(error)")
    }
}

private final class ResultBox<T: Sendable>: @unchecked Sendable {
    var value: T?
}

/// Runs `body` to completion from synchronous code (libFuzzer calls in on its own thread, never on
/// the cooperative pool, so blocking here cannot starve the task that signals).
public func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        box.value = await body()
        done.signal()
    }
    done.wait()
    return box.value!
}

/// A fresh scratch directory under the system's temporary directory, removed at exit by the caller's
/// choice (fuzz targets run until killed, so each run gets its own).
public func scratchDirectory(_ name: String) -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
        "countersign-fuzz-\(name)-\(getpid())"
    ).path
    try? FileManager.default.removeItem(atPath: path)
    do {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
        fatalError("cannot create \(path): \(error)")
    }
    return path
}

/// A Gate writing to a real JSONL ledger in a scratch directory. Every decision leaves a receipt, so the
/// ledger is replaced by a fresh one every `rotateEvery` uses to keep a long run's disk use bounded.
public final class ScratchGate: @unchecked Sendable {
    let directory: String
    let policy: Policy
    let key = SigningKey.generate()
    let rotateEvery: Int
    private var uses = 0
    private var generation = 0
    private var current: Gate?

    public init(name: String, policy: Policy, rotateEvery: Int = 5000) {
        directory = scratchDirectory(name)
        self.policy = policy
        self.rotateEvery = rotateEvery
    }

    /// The Gate for the next input: the same one until it has been used `rotateEvery` times.
    public func next() -> Gate {
        uses += 1
        if let current, uses <= rotateEvery { return current }
        if let current {
            let writer = current.writer
            runBlocking { await writer.flush() }
            try? FileManager.default.removeItem(atPath: writer.store.path)
        }
        generation += 1
        uses = 1
        let path = directory + "/ledger-\(generation).jsonl"
        do {
            let writer = LedgerWriter(store: try JSONLStore(path: path), sealer: Sealer(key: key))
            let gate = Gate(policy: policy, writer: writer, defaultApprovalTimeout: 1)
            current = gate
            return gate
        } catch {
            fatalError("cannot open the scratch ledger \(path): \(error)")
        }
    }
}
