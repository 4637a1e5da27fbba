/// Where the signer service listens: `unix:/run/countersign/countersign.sock` (also `unix:///…` or a bare
/// absolute path), `http://HOST:PORT`, or `https://HOST[:PORT]` (TLS: the MCP proxy and Claude Code's HTTP
/// hooks speak it; the hooks' own clients, which link no TLS library, refuse it).
public enum SignerAddress: Sendable, Equatable, CustomStringConvertible {
    case unix(path: String)
    case http(host: String, port: UInt16, basePath: String)
    case https(host: String, port: UInt16, basePath: String)

    /// The environment variable that names the signer for every adapter.
    public static let environmentVariable = "COUNTERSIGN_SIGNER"

    public static func parse(_ text: String) throws(SignerError) -> SignerAddress {
        let trimmed = text.trimmedSpaces
        if trimmed.isEmpty { throw SignerError("an empty signer address (unix:/PATH or http://HOST:PORT)") }
        if trimmed.hasPrefix("/") { return .unix(path: trimmed) }
        if trimmed.hasPrefix("unix:") {
            var path = Substring(trimmed.dropFirst(5))
            if path.hasPrefix("//") { path = path.dropFirst(2) }
            guard path.hasPrefix("/") else {
                throw SignerError(
                    "\(text): a unix: address needs an absolute socket path (unix:/run/countersign/countersign.sock)")
            }
            guard path.utf8.count < 104 else { throw SignerError("\(text): the socket path is too long") }
            return .unix(path: String(path))
        }
        let tls = trimmed.hasPrefix("https://")
        guard trimmed.hasPrefix("http://") || tls else {
            throw SignerError("\(text): not a signer address (unix:/PATH, http://HOST:PORT or https://HOST[:PORT])")
        }
        let rest = trimmed.dropFirst(tls ? 8 : 7)
        let authority = rest.prefix { $0 != "/" }
        let basePath = String(rest.dropFirst(authority.count)).trimmingTrailingSlashes
        var host = Substring(authority)
        var port: UInt16 = tls ? 443 : 80
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            guard let value = UInt16(authority[authority.index(after: colon)...]), value > 0 else {
                throw SignerError("\(text): the port must be a number from 1 to 65535")
            }
            port = value
            host = authority[..<colon]
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty, !host.contains("@") else { throw SignerError("\(text): no host") }
        return tls
            ? .https(host: String(host), port: port, basePath: basePath)
            : .http(host: String(host), port: port, basePath: basePath)
    }

    public var isUnix: Bool {
        if case .unix = self { return true }
        return false
    }

    /// Whether the C-library clients (the hooks' forwarders) can speak to it: not over TLS.
    public var needsTLS: Bool {
        if case .https = self { return true }
        return false
    }

    /// The URL of a path on an HTTP(S) signer; nil for a Unix socket.
    public func url(_ path: String) -> String? {
        switch self {
        case .unix: nil
        case .http(let host, let port, let base):
            "http://\(host.contains(":") ? "[\(host)]" : host):\(port)\(base)\(path)"
        case .https(let host, let port, let base):
            "https://\(host.contains(":") ? "[\(host)]" : host):\(port)\(base)\(path)"
        }
    }

    public var description: String {
        switch self {
        case .unix(let path): "unix:\(path)"
        case .http, .https: url("") ?? ""
        }
    }
}

public struct SignerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension String {
    var trimmedSpaces: String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" || first == "\n" {
            scalars = scalars.dropFirst()
        }
        while let last = scalars.last, last == " " || last == "\t" || last == "\n" { scalars = scalars.dropLast() }
        return String(scalars)
    }

    var trimmingTrailingSlashes: String {
        var text = Substring(self)
        while text.hasSuffix("/") { text = text.dropLast() }
        return String(text)
    }
}
