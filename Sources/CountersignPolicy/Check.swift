import CountersignCore

/// The decision path's form of a `Matcher`: one small final class per check, so evaluating a rule
/// borrows references instead of copying enum payloads (the ARC traffic that dominated profiles).
/// `Matcher` stays the descriptive form used by the candidate index, explanations and lint.
class Check: @unchecked Sendable {
    // Subclasses hold only immutable state set at compile time.
    func matches(_ context: inout EvaluationContext) -> Bool { false }

    static func compile(_ matcher: Matcher) -> Check {
        switch matcher {
        case .equals(let field, let value): return EqualsCheck(field, value)
        case .glob(let field, let globs): return FieldGlobCheck(field, globs)
        case .targetPrefix(let prefix): return TargetPrefixCheck(prefix)
        case .targetGlob(let globs): return TargetGlobCheck(globs)
        case .targetRegex(let patterns): return TargetRegexCheck(patterns)
        case .toolIn(let tools): return ToolInCheck(tools)
        case .tagsAny(let tags): return TagsCheck(tags, .any)
        case .tagsAll(let tags): return TagsCheck(tags, .all)
        case .tagsNone(let tags): return TagsCheck(tags, .none)
        case .commandMatches(let snippets): return CommandCheck(snippets)
        default: return MatcherCheck(matcher)
        }
    }
}

final class EqualsCheck: Check, @unchecked Sendable {
    let field: Matcher.Field
    let value: String
    init(_ field: Matcher.Field, _ value: String) {
        self.field = field
        self.value = value
    }
    override func matches(_ context: inout EvaluationContext) -> Bool {
        switch field {
        case .actor: return ByteSearch.equal(context.envelope.actor, value)
        case .surface: return ByteSearch.equal(context.envelope.surface, value)
        case .tool: return ByteSearch.equal(context.envelope.tool, value)
        case .intent: return ByteSearch.equal(context.envelope.intent, value)
        }
    }
}

final class FieldGlobCheck: Check, @unchecked Sendable {
    let field: Matcher.Field
    let globs: ContiguousArray<Glob>
    init(_ field: Matcher.Field, _ globs: [Glob]) {
        self.field = field
        self.globs = ContiguousArray(globs)
    }
    override func matches(_ context: inout EvaluationContext) -> Bool {
        switch field {
        case .actor: return Glob.any(globs, context.envelope.actor)
        case .surface: return Glob.any(globs, context.envelope.surface)
        case .tool: return Glob.any(globs, context.envelope.tool)
        case .intent: return Glob.any(globs, context.envelope.intent)
        }
    }
}

final class TargetPrefixCheck: Check, @unchecked Sendable {
    let prefix: String
    init(_ prefix: String) { self.prefix = prefix }
    override func matches(_ context: inout EvaluationContext) -> Bool {
        context.prepareTarget()
        if ByteSearch.hasPrefix(context.targetStorage, prefix) { return true }
        return !context.otherTargetForms.isEmpty
            && context.otherTargetForms.contains { ByteSearch.hasPrefix($0, prefix) }
    }
}

final class TargetGlobCheck: Check, @unchecked Sendable {
    let globs: ContiguousArray<Glob>
    init(_ globs: [Glob]) { self.globs = ContiguousArray(globs) }
    override func matches(_ context: inout EvaluationContext) -> Bool {
        context.prepareTarget()
        if Glob.any(globs, context.targetStorage) { return true }
        return !context.otherTargetForms.isEmpty && context.otherTargetForms.contains { Glob.any(globs, $0) }
    }
}

final class TargetRegexCheck: Check, @unchecked Sendable {
    let patterns: [Pattern]
    init(_ patterns: [Pattern]) { self.patterns = patterns }
    override func matches(_ context: inout EvaluationContext) -> Bool {
        context.anyTargetFormSearching(patterns)
    }
}

final class ToolInCheck: Check, @unchecked Sendable {
    let tools: ContiguousArray<String>
    init(_ tools: [String]) { self.tools = ContiguousArray(tools) }
    override func matches(_ context: inout EvaluationContext) -> Bool {
        let tool = context.envelope.tool
        return tools.withUnsafeBufferPointer { buffer in
            for index in buffer.indices where ByteSearch.equal(tool, buffer[index]) { return true }
            return false
        }
    }
}

final class TagsCheck: Check, @unchecked Sendable {
    enum Mode { case any, all, none }
    let tags: ContiguousArray<String>
    let mode: Mode
    init(_ tags: [String], _ mode: Mode) {
        self.tags = ContiguousArray(tags)
        self.mode = mode
    }
    override func matches(_ context: inout EvaluationContext) -> Bool {
        tags.withUnsafeBufferPointer { buffer in
            var found = 0
            for index in buffer.indices where Self.has(context.envelope.risk, buffer[index]) {
                if mode == .any { return true }
                if mode == .none { return false }
                found += 1
            }
            switch mode {
            case .any: return false
            case .none: return true
            case .all: return found == buffer.count
            }
        }
    }

    @inline(__always)
    static func has(_ risk: [String], _ tag: String) -> Bool {
        risk.withUnsafeBufferPointer { buffer in
            for index in buffer.indices where ByteSearch.equal(buffer[index], tag) { return true }
            return false
        }
    }
}

final class CommandCheck: Check, @unchecked Sendable {
    let snippets: ContiguousArray<String>
    init(_ snippets: [String]) { self.snippets = ContiguousArray(snippets) }
    override func matches(_ context: inout EvaluationContext) -> Bool {
        context.prepareCommand()
        return snippets.withUnsafeBufferPointer { buffer in
            for index in buffer.indices where ByteSearch.contains(context.commandStorage, buffer[index]) { return true }
            return false
        }
    }
}

/// Checks that read arguments, metadata or labels: less frequent, so they keep the enum's code.
final class MatcherCheck: Check, @unchecked Sendable {
    let matcher: Matcher
    init(_ matcher: Matcher) { self.matcher = matcher }
    override func matches(_ context: inout EvaluationContext) -> Bool { matcher.matches(&context) }
}
