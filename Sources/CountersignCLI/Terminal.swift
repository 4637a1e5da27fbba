import CountersignCore
import Foundation

/// Writing results and errors: results to stdout (or `--output`), errors to stderr.
enum Terminal {
    static func write(_ text: String, to path: String? = nil) throws {
        guard let path else {
            FileHandle.standardOutput.write(Data(text.utf8))
            return
        }
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url, options: .atomic)
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
    }

    /// Pretty JSON with sorted keys (the format every `--format json` uses).
    static func prettyJSON(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return CanonicalJSON.string(value) }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Reads standard input, refusing more than `limit` bytes.
    static func readStandardInput(limit: Int = 8 * 1024 * 1024) throws -> Data {
        var data = Data()
        while let chunk = try FileHandle.standardInput.read(upToCount: 65_536), !chunk.isEmpty {
            data.append(chunk)
            if data.count > limit { throw CLIError("standard input is larger than \(limit / 1024 / 1024) MiB") }
        }
        return data
    }
}

/// An error the CLI reports as one line on stderr and exit code 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
