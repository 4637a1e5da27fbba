/// Where the signer service listens: `unix:/run/countersign/countersign.sock` (also `unix:///…` or a bare
/// absolute path) or `http://HOST:PORT`. This module links nothing but the C library, so the thin hook
/// client that uses it starts in about a millisecond; TLS is left to the full binary's clients.
public enum SignerAddress: Sendable, Equatable, CustomStringConvertible {
    case unix(path: String)
    case http(host: String, port: UInt16, basePath: String)

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
        if trimmed.hasPrefix("https://") {
            throw SignerError(
                "\(text): the hook client speaks plain HTTP on loopback or a Unix socket; put TLS in front of "
                    + "the service and reach it through a local address, or use unix:PATH")
        }
        guard trimmed.hasPrefix("http://") else {
            throw SignerError("\(text): not a signer address (unix:/PATH or http://HOST:PORT)")
        }
        let rest = trimmed.dropFirst(7)
        let authority = rest.prefix { $0 != "/" }
        let basePath = String(rest.dropFirst(authority.count)).trimmingTrailingSlashes
        var host = Substring(authority)
        var port: UInt16 = 80
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            guard let value = UInt16(authority[authority.index(after: colon)...]), value > 0 else {
                throw SignerError("\(text): the port must be a number from 1 to 65535")
            }
            port = value
            host = authority[..<colon]
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty, !host.contains("@") else { throw SignerError("\(text): no host") }
        return .http(host: String(host), port: port, basePath: basePath)
    }

    public var description: String {
        switch self {
        case .unix(let path): "unix:\(path)"
        case .http(let host, let port, let base): "http://\(host.contains(":") ? "[\(host)]" : host):\(port)\(base)"
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
