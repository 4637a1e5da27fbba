/// The forms under which a path-like target or path argument is matched by a policy.
///
/// An agent can write `/repo/../root/.bashrc` where a policy allows `/repo/*`: matching the text as written
/// lets it out. So a path-like value is matched only in its normalised forms — `.` and `..` resolved, `//`
/// collapsed — and, when it is relative and the action says where it runs (`metadata.cwd`), also as the
/// absolute path it resolves to. A relative path keeps its spelling (`./` stays, `src/a` stays relative) so
/// policies that match relative paths keep working; one that climbs out (`../x`) keeps its `..`.
///
/// Globs keep their semantics (`*` crosses `/`) on the normalised text. URLs and commands are not paths:
/// anything with a scheme (`://`) is left alone, and outside the `file` surface a value with whitespace is
/// not treated as a path.
public enum PathForms {
    /// Argument keys whose string values are paths.
    public static func isPathKey(_ key: String) -> Bool {
        switch key {
        case "path", "file_path", "filepath", "filename", "file", "notebook_path", "absolute_path", "dir",
            "directory", "destination", "dest", "source", "src", "target_file", "target_path", "cwd":
            return true
        default:
            return key.hasSuffix("_path") || key.hasSuffix("_file") || key.hasSuffix("_dir")
                || key.hasSuffix("_directory")
        }
    }

    /// Whether `value` should be matched as a path. `fileSurface`: the action is a file action, whose
    /// target is a path even when it holds a space.
    public static func isPathLike(_ value: String, fileSurface: Bool) -> Bool {
        guard !value.isEmpty, !value.contains("://") else { return false }
        var sawSlash = false
        for byte in value.utf8 {
            switch byte {
            case 0x2F: sawSlash = true
            case 0x20, 0x09, 0x0A, 0x0D: if !fileSurface { return false }
            default: break
            }
        }
        return fileSurface || sawSlash || value == "." || value == ".." || value == "~"
    }

    /// The forms to match: the normalised path, then (for a relative path with an absolute `cwd`) the
    /// absolute path it names. Never empty; the first form is the one shown to people.
    public static func forms(_ value: String, cwd: String?) -> [String] {
        let normalised = normalise(value)
        guard !normalised.hasPrefix("/"), !normalised.hasPrefix("~"), let cwd, cwd.hasPrefix("/") else {
            return [normalised]
        }
        let absolute = normalise(cwd + "/" + value)
        return absolute == normalised ? [normalised] : [normalised, absolute]
    }

    /// Resolves `.` and `..` and collapses repeated `/` without touching the file system (no symlinks are
    /// followed: the policy judges the path the action names). A relative path keeps a leading `./`; `..` that
    /// climbs above a relative start is kept; `..` above `/` stays at `/`.
    public static func normalise(_ path: String) -> String {
        guard needsWork(path) else { return path }
        let absolute = path.hasPrefix("/")
        let dotted = path.hasPrefix("./")
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..":
                if let last = parts.last, last != ".." {
                    parts.removeLast()
                } else if !absolute {
                    parts.append(part)
                }
            default: parts.append(part)
            }
        }
        var result = parts.joined(separator: "/")
        let trailingSlash = path.hasSuffix("/") && !result.isEmpty
        if trailingSlash { result += "/" }
        if absolute { return "/" + result }
        if result.isEmpty { return "." }
        return dotted && !result.hasPrefix("..") ? "./" + result : result
    }

    /// Fast check: only paths with `//`, a `.` or `..` segment need rewriting.
    static func needsWork(_ path: String) -> Bool {
        var segmentLength = 0
        var dotsOnly = true
        var first = true
        for byte in path.utf8 {
            if byte == 0x2F {
                if segmentLength == 0 && !first { return true }  // `//`
                if segmentLength > 0 && segmentLength <= 2 && dotsOnly { return true }  // `.` or `..`
                segmentLength = 0
                dotsOnly = true
            } else {
                segmentLength += 1
                if byte != 0x2E { dotsOnly = false }
            }
            first = false
        }
        return segmentLength > 0 && segmentLength <= 2 && dotsOnly
    }
}

extension ActionEnvelope {
    /// The path forms a policy matched where they differ from what the action says — the target and each
    /// top-level path argument — for the decision's record; nil when nothing was rewritten.
    public var normalizedPaths: JSONValue? {
        let cwd = metadata["cwd"]?.stringValue
        let fileSurface = surface == "file"
        var result: [String: JSONValue] = [:]
        let raw = derivedTarget
        if PathForms.isPathLike(raw, fileSurface: fileSurface) {
            let forms = PathForms.forms(raw, cwd: cwd)
            if forms != [raw] { result["target"] = .array(forms.map(JSONValue.string)) }
        }
        var arguments: [String: JSONValue] = [:]
        for (key, value) in args where PathForms.isPathKey(key) {
            guard let text = value.stringValue, PathForms.isPathLike(text, fileSurface: fileSurface) else { continue }
            let forms = PathForms.forms(text, cwd: cwd)
            if forms != [text] { arguments[key] = .array(forms.map(JSONValue.string)) }
        }
        if !arguments.isEmpty { result["args"] = .object(arguments) }
        return result.isEmpty ? nil : .object(result)
    }
}
