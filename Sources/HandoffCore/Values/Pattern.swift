/// A regular expression that an output's whole value must match, run without backtracking.
///
/// Output patterns come from workflow files and run inside a write, so their cost must not depend on how they
/// are written: `(a+)+$` on a short input takes minutes in a backtracking engine. A `Pattern` is compiled to a
/// small program and run as a Thompson/Pike automaton, which keeps every possible position of the program at
/// once: matching costs at most the input's length times the program's size, whatever the pattern.
///
/// The syntax is the common subset: literals; `.`; classes `[a-z0-9_]` and `[^…]`; `\d \w \s \D \W \S`; escaped
/// punctuation (`\.`, `\-`, …), `\n`, `\t`; groups `(…)` and `(?:…)`; `|`; `*`, `+`, `?`, `{n}`, `{n,}`,
/// `{n,m}` (a lazy `?` after them is accepted and changes nothing, since the whole value must match); `^` and
/// `$`. Backreferences, lookaround and other `(?…)` forms are refused: no linear engine can run them. Matching
/// works on Unicode scalars.
public struct Pattern: Hashable, Sendable, CustomStringConvertible {
    public let source: String
    private let program: [Instruction]

    /// The longest pattern text accepted, and the largest program one may compile to (counted repetition
    /// copies its body, so `(…){1000}` grows fast).
    public static let maximumLength = 1_000
    public static let maximumProgram = 5_000

    public var description: String { source }

    public init(_ source: String) throws(PatternError) {
        guard source.unicodeScalars.count <= Self.maximumLength else {
            throw PatternError(reason: "is longer than \(Self.maximumLength) characters", offset: 0)
        }
        var parser = PatternParser(Array(source.unicodeScalars))
        let tree = try parser.parse()
        var compiler = PatternCompiler()
        try compiler.emit(tree)
        compiler.program.append(.match)
        self.source = source
        self.program = compiler.program
    }

    /// Whether the whole of `text` matches.
    public func matches(_ text: String) -> Bool {
        let input = Array(text.unicodeScalars)
        var current = ThreadList(capacity: program.count)
        var next = ThreadList(capacity: program.count)
        addThread(0, at: 0, of: input.count, to: &current)
        for (position, scalar) in input.enumerated() {
            guard !current.isEmpty else { return false }
            next.clear()
            for pc in current.pcs {
                if case .consume(let atom) = program[pc], atom.matches(scalar) {
                    addThread(pc + 1, at: position + 1, of: input.count, to: &next)
                }
            }
            swap(&current, &next)
        }
        return current.pcs.contains { program[$0] == .match }
    }

    /// Adds `pc` and everything reachable from it without consuming input (an explicit stack, no recursion).
    private func addThread(_ pc: Int, at position: Int, of length: Int, to list: inout ThreadList) {
        var stack = [pc]
        while let pc = stack.popLast() {
            guard list.insert(pc) else { continue }
            switch program[pc] {
            case .jump(let target):
                stack.append(target)
            case .split(let first, let second):
                stack.append(second)
                stack.append(first)
            case .assertStart:
                if position == 0 { stack.append(pc + 1) }
            case .assertEnd:
                if position == length { stack.append(pc + 1) }
            case .consume, .match:
                break
            }
        }
    }
}

/// Why a pattern can't be used; `offset` counts Unicode scalars from its start.
public struct PatternError: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String
    public var offset: Int

    public var description: String { "\(reason) at character \(offset + 1)" }
}

// MARK: - The program

private enum Instruction: Hashable {
    case consume(Atom)
    case split(Int, Int)
    case jump(Int)
    case assertStart
    case assertEnd
    case match
}

/// One character to match.
private enum Atom: Hashable {
    case scalar(Unicode.Scalar)
    case any
    case set(ScalarSet)

    func matches(_ scalar: Unicode.Scalar) -> Bool {
        switch self {
        case .scalar(let expected): scalar == expected
        case .any: scalar != "\n"
        case .set(let set): set.contains(scalar)
        }
    }
}

private enum ScalarClass: Hashable {
    case digit, word, space

    func contains(_ scalar: Unicode.Scalar) -> Bool {
        switch self {
        case .digit: ("0"..."9").contains(scalar)
        case .word: scalar == "_" || ("0"..."9").contains(scalar) || ("a"..."z").contains(scalar)
            || ("A"..."Z").contains(scalar)
        case .space: [" ", "\t", "\n", "\r", "\u{0B}", "\u{0C}"].contains(scalar)
        }
    }
}

private struct ScalarSet: Hashable {
    var ranges: [ClosedRange<UInt32>] = []
    var classes: [(ScalarClass, negated: Bool)] = []
    var negated = false

    func contains(_ scalar: Unicode.Scalar) -> Bool {
        let inside = ranges.contains { $0.contains(scalar.value) }
            || classes.contains { $0.0.contains(scalar) != $0.negated }
        return inside != negated
    }

    static func == (a: ScalarSet, b: ScalarSet) -> Bool {
        a.ranges == b.ranges && a.negated == b.negated
            && a.classes.map(\.0) == b.classes.map(\.0) && a.classes.map(\.negated) == b.classes.map(\.negated)
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(ranges)
        hasher.combine(negated)
    }
}

/// The program positions alive at one point of the input, in the order they were reached.
private struct ThreadList {
    private(set) var pcs: [Int] = []
    private var seen: [Bool]

    init(capacity: Int) {
        seen = Array(repeating: false, count: capacity)
        pcs.reserveCapacity(capacity)
    }

    var isEmpty: Bool { pcs.isEmpty }

    mutating func insert(_ pc: Int) -> Bool {
        guard !seen[pc] else { return false }
        seen[pc] = true
        pcs.append(pc)
        return true
    }

    mutating func clear() {
        for pc in pcs { seen[pc] = false }
        pcs.removeAll(keepingCapacity: true)
    }
}

// MARK: - Parsing

private indirect enum PatternNode {
    case empty
    case atom(Atom)
    case start
    case end
    case sequence([PatternNode])
    case alternatives([PatternNode])
    case repetition(PatternNode, minimum: Int, maximum: Int?)
}

private struct PatternParser {
    let scalars: [Unicode.Scalar]
    var index = 0
    var groupDepth = 0
    static let maximumGroupDepth = 32
    static let maximumCount = 1_000

    init(_ scalars: [Unicode.Scalar]) {
        self.scalars = scalars
    }

    var current: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

    func error(_ reason: String, at offset: Int? = nil) -> PatternError {
        PatternError(reason: reason, offset: offset ?? index)
    }

    mutating func parse() throws(PatternError) -> PatternNode {
        let node = try alternatives()
        if current == ")" { throw error("has a ')' without its '('") }
        return node
    }

    mutating func alternatives() throws(PatternError) -> PatternNode {
        var choices = [try sequence()]
        while current == "|" {
            index += 1
            choices.append(try sequence())
        }
        return choices.count == 1 ? choices[0] : .alternatives(choices)
    }

    mutating func sequence() throws(PatternError) -> PatternNode {
        var items: [PatternNode] = []
        while let scalar = current, scalar != "|", scalar != ")" {
            let item = try quantified()
            items.append(item)
        }
        return items.isEmpty ? .empty : items.count == 1 ? items[0] : .sequence(items)
    }

    mutating func quantified() throws(PatternError) -> PatternNode {
        let start = index
        var node = try primary()
        while let scalar = current, ["*", "+", "?", "{"].contains(scalar) {
            if case .start = node { throw error("repeats '^', which matches no character", at: start) }
            if case .end = node { throw error("repeats '$', which matches no character", at: start) }
            let (minimum, maximum) = try quantifier()
            node = .repetition(node, minimum: minimum, maximum: maximum)
            if current == "?" {
                index += 1  // lazy: the same for a whole match
            } else if current == "+" {
                throw error("uses a possessive quantifier, which is not supported")
            }
        }
        return node
    }

    mutating func quantifier() throws(PatternError) -> (Int, Int?) {
        let scalar = scalars[index]
        index += 1
        switch scalar {
        case "*": return (0, nil)
        case "+": return (1, nil)
        case "?": return (0, 1)
        default:
            let open = index - 1
            let minimum = number()
            var maximum = minimum
            if current == "," {
                index += 1
                maximum = number()
            } else if minimum == nil {
                throw error("has '{' that starts no count such as {2} or {2,5}; write \\{ for the character", at: open)
            }
            guard current == "}", let minimum else {
                throw error("has a count that is not {n}, {n,} or {n,m}", at: open)
            }
            index += 1
            if let maximum, maximum < minimum {
                throw error("has a count whose maximum is below its minimum", at: open)
            }
            guard minimum <= Self.maximumCount, (maximum ?? 0) <= Self.maximumCount else {
                throw error("has a count above \(Self.maximumCount)", at: open)
            }
            return (minimum, maximum)
        }
    }

    mutating func number() -> Int? {
        var digits = ""
        while let scalar = current, ("0"..."9").contains(scalar), digits.count < 6 {
            digits.unicodeScalars.append(scalar)
            index += 1
        }
        return Int(digits)
    }

    mutating func primary() throws(PatternError) -> PatternNode {
        guard let scalar = current else { throw error("ends too early") }
        let start = index
        index += 1
        switch scalar {
        case "(":
            if current == "?" {
                guard index + 1 < scalars.count, scalars[index + 1] == ":" else {
                    throw error("uses '(?…)', of which only the group '(?:…)' is supported", at: start)
                }
                index += 2
            }
            groupDepth += 1
            guard groupDepth <= Self.maximumGroupDepth else {
                throw error("nests groups deeper than \(Self.maximumGroupDepth)", at: start)
            }
            let inner = try alternatives()
            guard current == ")" else { throw error("has a '(' without its ')'", at: start) }
            index += 1
            groupDepth -= 1
            return inner
        case "[": return .atom(.set(try set(at: start)))
        case ".": return .atom(.any)
        case "^": return .start
        case "$": return .end
        case "\\": return .atom(try escape(at: start, inSet: false).atom)
        case "*", "+", "?", "{": throw error("has '\(scalar)' with nothing before it to repeat", at: start)
        default: return .atom(.scalar(scalar))
        }
    }

    /// What a `\` at `start` (already read) stands for: one character, or a class.
    mutating func escape(at start: Int, inSet: Bool) throws(PatternError) -> (atom: Atom, scalar: Unicode.Scalar?) {
        guard let scalar = current else { throw error("ends with a lone '\\'", at: start) }
        index += 1
        func set(_ kind: ScalarClass, negated: Bool) -> (Atom, Unicode.Scalar?) {
            (.set(ScalarSet(classes: [(kind, negated)])), nil)
        }
        switch scalar {
        case "d": return set(.digit, negated: false)
        case "D": return set(.digit, negated: true)
        case "w": return set(.word, negated: false)
        case "W": return set(.word, negated: true)
        case "s": return set(.space, negated: false)
        case "S": return set(.space, negated: true)
        case "n": return (.scalar("\n"), "\n")
        case "t": return (.scalar("\t"), "\t")
        case "r": return (.scalar("\r"), "\r")
        default:
            guard scalar.isASCII, !scalar.properties.isAlphabetic, !("0"..."9").contains(scalar) else {
                throw error("uses '\\\(scalar)', which is not supported (backreferences and \\b are not)", at: start)
            }
            return (.scalar(scalar), scalar)
        }
    }

    mutating func set(at start: Int) throws(PatternError) -> ScalarSet {
        var set = ScalarSet()
        if current == "^" {
            set.negated = true
            index += 1
        }
        var first = true
        while true {
            guard let scalar = current else { throw error("has a '[' without its ']'", at: start) }
            if scalar == "]", !first {
                index += 1
                return set
            }
            first = false
            let low = try setMember(into: &set)
            guard let low else { continue }
            if current == "-", index + 1 < scalars.count, scalars[index + 1] != "]" {
                let dash = index
                index += 1
                guard let high = try setMember(into: &set) else {
                    throw error("has a range that ends in a class", at: dash)
                }
                guard low.value <= high.value else { throw error("has a range whose end is before its start", at: dash) }
                set.ranges.append(low.value...high.value)
            } else {
                set.ranges.append(low.value...low.value)
            }
        }
    }

    /// Reads one member of a class; returns its character, or nil when it was a class such as `\d` (added).
    mutating func setMember(into set: inout ScalarSet) throws(PatternError) -> Unicode.Scalar? {
        let start = index
        let scalar = scalars[index]
        index += 1
        guard scalar == "\\" else {
            if scalar == "[", current == ":" { throw error("uses a POSIX class such as [:alpha:], which is not supported", at: start) }
            return scalar
        }
        let (atom, literal) = try escape(at: start, inSet: true)
        if let literal { return literal }
        if case .set(let inner) = atom { set.classes.append(contentsOf: inner.classes) }
        return nil
    }
}

// MARK: - Compiling

private struct PatternCompiler {
    var program: [Instruction] = []

    mutating func append(_ instruction: Instruction) throws(PatternError) {
        guard program.count < Pattern.maximumProgram else {
            throw PatternError(
                reason: "is too large once its counts are multiplied out (over \(Pattern.maximumProgram) steps)",
                offset: 0)
        }
        program.append(instruction)
    }

    /// Emits `node`; recursion is bounded by the parser's group depth.
    mutating func emit(_ node: PatternNode) throws(PatternError) {
        switch node {
        case .empty:
            break
        case .atom(let atom):
            try append(.consume(atom))
        case .start:
            try append(.assertStart)
        case .end:
            try append(.assertEnd)
        case .sequence(let items):
            for item in items { try emit(item) }
        case .alternatives(let choices):
            var jumps: [Int] = []
            for (offset, choice) in choices.enumerated() {
                if offset < choices.count - 1 {
                    let split = program.count
                    try append(.split(split + 1, 0))
                    try emit(choice)
                    jumps.append(program.count)
                    try append(.jump(0))
                    program[split] = .split(split + 1, program.count)
                } else {
                    try emit(choice)
                }
            }
            for jump in jumps { program[jump] = .jump(program.count) }
        case .repetition(let body, let minimum, let maximum):
            for _ in 0..<minimum { try emit(body) }
            if let maximum {
                var splits: [Int] = []
                for _ in minimum..<maximum {
                    splits.append(program.count)
                    try append(.split(program.count + 1, 0))
                    try emit(body)
                }
                for split in splits { program[split] = .split(split + 1, program.count) }
            } else {
                let loop = program.count
                try append(.split(loop + 1, 0))
                try emit(body)
                try append(.jump(loop))
                program[loop] = .split(loop + 1, program.count)
            }
        }
    }
}
