import Foundation
import HandoffCore
import HandoffFuzzing
import Testing
import Timestamps

/// A workflow file with one role `a` whose steps are `steps` (YAML list items, indented by two).
private func workflow(_ id: String, _ steps: String, inputs: String = "") -> String {
    "id: \(id)\ntitle: T\nversion: 1\nroles: [a]\n\(inputs)start: s0\nsteps:\n" + steps
}

/// A workflow whose one decision goes to its end whatever `condition` gives.
private func deciding(on condition: String) -> String {
    workflow(
        "deep",
        """
          - id: s0
            decision:
              - when: \(condition)
                next: done
              - otherwise: done
          - id: done
            end:
              status: completed

        """)
}

private func chainOfSetSteps(_ count: Int) -> String {
    var steps = ""
    for index in 0..<count {
        steps += "  - id: s\(index)\n    set:\n      V\(index % 10): \(index)\n"
    }
    return steps + "  - id: done\n    end:\n      status: completed\n"
}

/// Starts and works an onboarding of `source` on a fresh task, whose thread has the small stack of Swift's
/// cooperative pool (where `serve` runs decisions), so that recursion too deep for it would crash the test run.
private func runOnAPoolThread(_ source: String) async -> [OnboardingEvent] {
    let (events, problem) = await Task.detached { FuzzTargets.workflow(Array(source.utf8)) }.value
    #expect(problem == nil)
    return events
}

private func failure(of events: [OnboardingEvent]) -> String? {
    guard case .failed(let failed)? = events.last else { return nil }
    return failed.reason
}

@Suite("Workflow files that validate always run")
struct WorkflowHardeningTests {
    @Test func aLoopOfAutomaticStepsFailsTheOnboardingWithACodedReasonInsteadOfASegfault() async throws {
        let source = workflow(
            "loop",
            """
              - id: s0
                set:
                  X: 1
              - id: d
                decision:
                  - when: true
                    next: s0
                  - otherwise: done
              - id: done
                end:
                  status: completed

            """)
        #expect(problems(source) == [])
        let events = await runOnAPoolThread(source)
        let reason = try #require(failure(of: events))
        #expect(reason.contains("without waiting; it loops"))
        #expect(events.count < 1_000, "one append takes at most 1,000 events")
    }

    @Test func aChainOfFiveThousandSetStepsStartsWithoutExhaustingTheStack() async throws {
        let source = workflow("chain", chainOfSetSteps(5_000))
        #expect(problems(source) == [])
        let events = await runOnAPoolThread(source)
        #expect(try #require(failure(of: events)).contains("without waiting"))
        #expect(events.count < 1_000)
    }

    @Test func aChainOfAHundredSetStepsRunsToItsEnd() async throws {
        let events = await runOnAPoolThread(workflow("chain", chainOfSetSteps(100)))
        guard case .completed? = events.last else {
            Issue.record("expected the onboarding to complete, got \(String(describing: events.last))")
            return
        }
    }

    @Test(arguments: [
        String(repeating: "(", count: 100_000) + "true" + String(repeating: ")", count: 100_000),
        String(repeating: "not ", count: 100_000) + "true",
        "true" + String(repeating: " and true", count: 100_000),
        "null" + String(repeating: " ?? null", count: 1_000) + " == null",
    ])
    func deeplyNestedExpressionsAreValidationErrors(condition: String) {
        let source = deciding(on: condition)
        let found = problems(source)
        #expect(found.count == 1)
        #expect(found.first?.contains("the expression nests deeper than 64 levels") == true, "\(found)")
    }

    @Test func anExpressionWithinTheDepthLimitLoadsAndRuns() async {
        let condition = String(repeating: "(", count: 30) + "true" + String(repeating: ")", count: 30)
            + String(repeating: " and true", count: 30)
        let source = deciding(on: condition)
        #expect(problems(source) == [])
        guard case .completed? = await runOnAPoolThread(source).last else {
            Issue.record("expected the onboarding to complete")
            return
        }
    }

    @Test(arguments: ["100000000w", "9000000000000000000s1s", "36501d", "99999999999999999999999w"])
    func hugeDurationsAreValidationErrorsNotArithmeticTraps(duration: String) {
        let source = workflow(
            "timer", "  - id: s0\n    timer:\n      for: \(duration)\n  - id: done\n    end:\n      status: completed\n")
        #expect(problems(source) == ["9:12: 'for' of step 's0' is longer than 36500d (about a hundred years): '\(duration)'"])
    }

    @Test func theLongestDurationSchedulesATimerEveryReaderTakes() async throws {
        let source = workflow(
            "timer", "  - id: s0\n    timer:\n      for: 36500d\n  - id: done\n    end:\n      status: completed\n")
        #expect(problems(source) == [])
        let events = await runOnAPoolThread(source)
        let scheduled = events.compactMap { event -> Date? in
            if case .timerScheduled(let timer) = event { timer.dueAt } else { nil }
        }
        let dueAt = try #require(scheduled.first)
        #expect(Timestamp.parse(Timestamp.format(dueAt)) == dueAt)
        #expect(events.contains { if case .timerFired = $0 { true } else { false } })
    }

    private func parallel(branches: Int, inner: Int? = nil) -> String {
        var steps = "  - id: s0\n    parallel:\n"
        for branch in 0..<branches {
            if let inner {
                steps += "      b\(branch):\n        - id: p\(branch)\n          parallel:\n"
                for nested in 0..<inner {
                    steps += "            c\(nested):\n              - id: t\(branch)x\(nested)\n"
                        + "                task:\n                  role: a\n                  title: T\n"
                }
            } else {
                steps += "      b\(branch):\n        - id: t\(branch)\n          task:\n            role: a\n"
                    + "            title: T\n"
            }
        }
        return workflow("wide", steps + "  - id: done\n    end:\n      status: completed\n")
    }

    @Test func aFlowThatCouldWaitInMoreThanAHundredStepsAtOnceIsRefused() {
        let message = "the flow can wait in more than 100 steps at once (its parallel branches and the blocks they "
            + "run); split it into several workflows"
        #expect(problems(parallel(branches: 101)) == ["6:1: \(message)"])
        #expect(problems(parallel(branches: 11, inner: 10)) == ["6:1: \(message)"])
    }

    @Test func aHundredBranchesOpenAHundredTasksInOneAppendAndCancellingWithdrawsThemInAnother() throws {
        let definition = try #require(try? WorkflowLoader.load(source: parallel(branches: 100), file: "wide.yaml").get())
        var harness = Harness(definition)
        let started = try harness.run(.start(onboardingId: "w", inputs: [:]))
        #expect(harness.state?.openTasks.count == 100)
        #expect(started.count < 1_000)
        let cancelled = try harness.run(.cancel(user: "sam", reason: "done"))
        #expect(cancelled.count < 1_000)
    }

    @Test func randomWorkflowFilesNeverCrashValidationOrARun() async {
        var generator = SplitMix64(seed: 0x5EED_F11E)
        var loaded = 0
        var ended = 0
        for _ in 0..<150 {
            let source = RandomWorkflow.make(using: &generator)
            let events = await runOnAPoolThread(source)
            if !events.isEmpty { loaded += 1 }
            if case .completed? = events.last { ended += 1 }
            if case .failed? = events.last { ended += 1 }
        }
        // The generator must reach both sides: files that are refused and files that run to an end.
        #expect(loaded > 15 && loaded < 150, "loaded \(loaded) of 150")
        #expect(ended > 5, "ended \(ended)")
    }

    @Test func theShippedWorkflowsWithRandomBytesChangedNeverCrashTheLoader() async throws {
        var generator = SplitMix64(seed: 0xB17F_11B5)
        for name in ["mail-send", "partner-go-live"] {
            let original = Array(try Data(contentsOf: workflowsFolder.appendingPathComponent("\(name).yaml")))
            for _ in 0..<60 {
                var bytes = original
                for _ in 0..<Int.random(in: 1...8, using: &generator) {
                    let index = Int.random(in: 0..<bytes.count, using: &generator)
                    bytes[index] = UInt8.random(in: 0...255, using: &generator)
                }
                let mutated = bytes
                #expect(await Task.detached { FuzzTargets.workflow(mutated) }.value.problem == nil)
            }
        }
    }
}

/// Random workflow files: long, deep and looping. References mostly lead on (so that most files validate) and
/// sometimes back (loops, some without any step that waits).
private enum RandomWorkflow {
    static func make(using generator: inout SplitMix64) -> String {
        let count = Int.random(in: 1...40, using: &generator)
        var text = "  - id: s0\n    set:\n      V: 0\n"
        text += list(prefix: "s", count: count, last: "done", depth: 0, indent: "  ", using: &generator)
        text += "  - id: done\n    end:\n      status: completed\n"
        let inputs = Bool.random(using: &generator) ? "inputs:\n  flag:\n    type: boolean\n    default: true\n" : ""
        return workflow("random", text, inputs: inputs)
    }

    /// Steps `<prefix>1` … `<prefix><count>`, then `last` (nil: the end of a branch).
    static func list(
        prefix: String, count: Int, last: String?, depth: Int, indent: String, using generator: inout SplitMix64
    ) -> String {
        let ids = (1...count).map { "\(prefix)\($0)" }
        var text = ""
        for (index, id) in ids.enumerated() {
            let following = index + 1 < ids.count ? ids[index + 1] : last
            let earlier = Array(ids[...index])
            text += step(id, following: following, earlier: earlier, depth: depth, indent: indent, using: &generator)
        }
        return text
    }

    static func step(
        _ id: String, following: String?, earlier: [String], depth: Int, indent: String,
        using generator: inout SplitMix64
    ) -> String {
        // Mostly on to the next step; sometimes back to an earlier one, which makes a loop.
        let back = earlier.randomElement(using: &generator) ?? id
        let target = Int.random(in: 0..<3, using: &generator) == 0 ? back : (following ?? back)
        let head = "\(indent)- id: \(id)\n"
        let body = indent + "  "
        switch Int.random(in: 0..<8, using: &generator) {
        case 0:
            return head + "\(body)set:\n\(body)  V: \(Int.random(in: -5...5, using: &generator))\n"
        case 1 where following != nil:
            let condition = ["true", "false", "vars.V == 1", "inputs.flag ?? true", "not (vars.V == 2)", "((true))"]
                .randomElement(using: &generator) ?? "true"
            return head + "\(body)decision:\n\(body)  - when: \(condition)\n\(body)    next: \(target)\n"
                + "\(body)  - otherwise: \(following ?? back)\n"
        case 2:
            let type = ["string", "integer", "url", "boolean"].randomElement(using: &generator) ?? "string"
            return head + "\(body)task:\n\(body)  role: a\n\(body)  title: Do ${vars.V}\n"
                + "\(body)  outputs:\n\(body)    o:\n\(body)      type: \(type)\n"
        case 3 where following != nil:
            return head + "\(body)wait:\n\(body)  signal: go\n\(body)  timeout: \(Int.random(in: 1...9, using: &generator))h\n"
                + "\(body)  on_timeout: \(target)\n"
        case 4:
            return head + "\(body)timer:\n\(body)  for: \(Int.random(in: 1...9, using: &generator))d\n"
        case 5 where depth < 3:
            var text = head + "\(body)parallel:\n"
            for branch in 0..<Int.random(in: 2...3, using: &generator) {
                text += "\(body)  b\(branch):\n"
                text += list(
                    prefix: "\(id)b\(branch)x", count: Int.random(in: 1...3, using: &generator), last: nil,
                    depth: depth + 1, indent: body + "    ", using: &generator)
            }
            return text
        case 6 where following != nil:
            return head + "\(body)set:\n\(body)  V: 1\n\(body)next: \(target)\n"
        default:
            return head + "\(body)set:\n\(body)  W: ${vars.V}\n"
        }
    }
}

@Suite("Output patterns run in bounded time")
struct PatternTests {
    @Test(arguments: [
        ("(a+)+$", String(repeating: "a", count: 5_000) + "b"),
        ("(a|a)*b", String(repeating: "a", count: 5_000)),
        ("(a*)*b", String(repeating: "a", count: 5_000)),
        ("(.*a){20}x", String(repeating: "a", count: 5_000)),
        ("^(([a-z])+.)+[A-Z]([a-z])+$", String(repeating: "aaaa", count: 1_000) + "!"),
    ])
    func patternsThatBacktrackForAgesAreMatchedInOnePass(pattern: String, text: String) throws {
        // A backtracking engine takes longer than the age of the universe on these; a linear one a moment.
        #expect(try Pattern(pattern).matches(text) == false)
    }

    @Test func patternsAgreeWithSwiftsRegexOnTheSyntaxTheyShare() throws {
        var generator = SplitMix64(seed: 0xFA77_E2)
        var matched = 0
        for _ in 0..<150 {
            let pattern = Self.randomPattern(depth: 0, using: &generator)
            let regex = try Regex(pattern)
            let compiled = try Pattern(pattern)
            for _ in 0..<8 {
                let text = String((0..<Int.random(in: 0...6, using: &generator)).map { _ in
                    "ab1 ".randomElement(using: &generator) ?? "a"
                })
                let expected = try regex.wholeMatch(in: text) != nil
                #expect(compiled.matches(text) == expected, "/\(pattern)/ on '\(text)'")
                if expected { matched += 1 }
            }
        }
        #expect(matched > 80, "the generator should make matches, made \(matched)")
    }

    static func randomPattern(depth: Int, using generator: inout SplitMix64) -> String {
        var text = ""
        for _ in 0..<Int.random(in: 1...3, using: &generator) {
            var atom: String
            switch Int.random(in: 0..<9, using: &generator) {
            case 0, 1: atom = ["a", "b", "1", " "].randomElement(using: &generator) ?? "a"
            case 2: atom = ["[ab]", "[^a]", "[a-b1]", "[\\d ]"].randomElement(using: &generator) ?? "[ab]"
            case 3: atom = ["\\d", "\\w", "\\s", "\\D", "."].randomElement(using: &generator) ?? "."
            case 4 where depth < 3: atom = "(" + randomPattern(depth: depth + 1, using: &generator) + ")"
            case 5 where depth < 3:
                atom = "(?:" + randomPattern(depth: depth + 1, using: &generator) + "|"
                    + randomPattern(depth: depth + 1, using: &generator) + ")"
            default: atom = "a"
            }
            atom += ["", "", "*", "+", "?", "{2}", "{0,2}", "{1,}", "*?"].randomElement(using: &generator) ?? ""
            text += atom
        }
        return text
    }

    @Test(arguments: [
        ("(a)\\1", "uses '\\1', which is not supported (backreferences and \\b are not) at character 4"),
        ("(?=a)b", "uses '(?…)', of which only the group '(?:…)' is supported at character 1"),
        ("\\bword", "uses '\\b', which is not supported (backreferences and \\b are not) at character 1"),
        ("a++", "uses a possessive quantifier, which is not supported at character 3"),
        ("[[:alpha:]]", "uses a POSIX class such as [:alpha:], which is not supported at character 2"),
        ("a{2,1}", "has a count whose maximum is below its minimum at character 2"),
        ("a{1001}", "has a count above 1000 at character 2"),
        ("(a{1000}){1000}", "is too large once its counts are multiplied out (over 5000 steps) at character 1"),
        (String(repeating: "(", count: 33) + String(repeating: ")", count: 33), "nests groups deeper than 32 at character 33"),
        ("*a", "has '*' with nothing before it to repeat at character 1"),
        ("(a", "has a '(' without its ')' at character 1"),
    ])
    func patternsNoLinearEngineCanRunAreRefusedSayingWhy(pattern: String, message: String) {
        let error = #expect(throws: PatternError.self) { try Pattern(pattern) }
        #expect(error?.description == message)
    }

    @Test func aPatternedValueLongerThanTenThousandCharactersIsRefusedNamingTheLimit() throws {
        let source = """
            id: long
            title: T
            version: 1
            roles: [a]
            start: s0
            steps:
              - id: s0
                task:
                  role: a
                  title: T
                  outputs:
                    code: { type: text, pattern: "[a-z]*" }
              - id: done
                end:
                  status: completed
            """
        var harness = Harness(try WorkflowLoader.load(source: source, file: "long.yaml").get())
        try harness.run(.start(onboardingId: "l", inputs: [:]))
        try harness.run(.claimTask(taskId: "l-t1", user: "sam", roles: ["a"]))
        let error = #expect(throws: (any Error).self) {
            try harness.run(
                .completeTask(
                    taskId: "l-t1", user: "sam", outputs: ["code": .string(String(repeating: "a", count: 10_001))],
                    checklist: []))
        }
        #expect((error.map { String(describing: $0) } ?? "").contains("code: is longer than 10000 characters, the most a pattern checks"))
        try harness.run(
            .completeTask(
                taskId: "l-t1", user: "sam", outputs: ["code": .string(String(repeating: "a", count: 10_000))],
                checklist: []))
        guard case .completed? = harness.events.last else {
            Issue.record("expected the onboarding to complete")
            return
        }
    }
}

@Suite("Values from callers keep their exact value or are refused")
struct InputValueTests {
    @Test(arguments: [
        "12345678901234567890", "-9223372036854775809", "1.2345678901234567890e19", "1e400", "0.30000000000000001",
        "1e-400", "[1, 99999999999999999999]",
    ])
    func numbersThatCannotBeKeptExactlyAreRefused(json: String) {
        #expect(throws: JSONSyntaxError.self) { try Value(parsingInput: Array(json.utf8)) }
    }

    @Test func theRefusalOfAnIntegerTooLargeForSixtyFourBitsNamesIt() {
        let error = #expect(throws: (any Error).self) {
            try Value(parsingInput: Array("{\"n\": 12345678901234567890}".utf8))
        }
        #expect((error.map { String(describing: $0) } ?? "") == "the integer 12345678901234567890 does not fit in 64 bits at byte 6")
    }

    @Test(arguments: [
        ("9223372036854775807", Value.integer(Int.max)), ("-9223372036854775808", .integer(Int.min)),
        ("1.5", .number(1.5)), ("1e2", .integer(100)), ("0.1", .number(0.1)), ("-0", .integer(0)),
        ("1.0", .integer(1)), ("2.5e-3", .number(0.0025)), ("1e20", .number(1e20)),
    ])
    func numbersThatKeepTheirValueAreAccepted(json: String, value: Value) throws {
        #expect(try Value(parsingInput: Array(json.utf8)) == value)
    }

    @Test func inputJSONThatIsNotValidUTF8IsRefusedWhereStoredJSONIsRepaired() throws {
        let bytes: [UInt8] = [0x22, 0x61, 0xFF, 0x22]
        #expect(throws: JSONSyntaxError.self) { try Value(parsingInput: bytes) }
        #expect(try Value(parsing: String(decoding: bytes, as: UTF8.self)) == .string("a\u{FFFD}"))
    }

    @Test func inputNestingStopsAtSixtyFourLevelsLeavingTheReadersRoomForWhatEventsWrapAroundIt() throws {
        let deepest = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        let value = try Value(parsingInput: Array(deepest.utf8))
        #expect(throws: JSONSyntaxError.self) {
            try Value(parsingInput: Array(("[" + deepest + "]").utf8))
        }
        // Stored inside an event (and wrapped again by views), it stays far from the readers' limit.
        var wrapped = value
        for _ in 0..<16 { wrapped = .object(["data": wrapped]) }
        #expect(try Value(parsing: wrapped.jsonText) == wrapped)
    }

    @Test func randomJSONFromCallersIsRefusedOrReadsBackUnchanged() {
        var generator = SplitMix64(seed: 0x15_0F_F1)
        var accepted = 0
        var refused = 0
        for _ in 0..<3_000 {
            let text = RandomJSON.document(using: &generator)
            if (try? Value(parsingInput: text)) == nil {
                refused += 1
            } else {
                accepted += 1
            }
            // An accepted value must read back from its stored form.
            #expect(FuzzTargets.json(text) == nil)
        }
        #expect(accepted > 300 && refused > 300, "accepted \(accepted), refused \(refused)")
    }
}

/// JSON texts, mostly valid, with deep nesting, extreme numbers, escapes, surrogates and stray bytes.
private enum RandomJSON {
    static func document(using generator: inout SplitMix64) -> [UInt8] {
        var bytes: [UInt8] = []
        value(depth: 0, into: &bytes, using: &generator)
        if Int.random(in: 0..<20, using: &generator) == 0, !bytes.isEmpty {
            bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
        }
        return bytes
    }

    static func value(depth: Int, into bytes: inout [UInt8], using generator: inout SplitMix64) {
        let choice = depth > 70 ? Int.random(in: 2..<6, using: &generator) : Int.random(in: 0..<8, using: &generator)
        switch choice {
        case 0, 6:
            bytes += Array("[".utf8)
            for index in 0..<Int.random(in: 0...2, using: &generator) {
                if index > 0 { bytes += Array(",".utf8) }
                value(depth: depth + 1, into: &bytes, using: &generator)
            }
            bytes += Array("]".utf8)
        case 1, 7:
            bytes += Array("{".utf8)
            for index in 0..<Int.random(in: 0...2, using: &generator) {
                if index > 0 { bytes += Array(",".utf8) }
                string(into: &bytes, using: &generator)
                bytes += Array(":".utf8)
                value(depth: depth + 1, into: &bytes, using: &generator)
            }
            bytes += Array("}".utf8)
        case 2:
            let numbers = [
                "0", "-0", "1", "-1", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
                "12345678901234567890", "0.1", "1.5e300", "1e400", "1e-400", "3.0", "2.5E-3", "123456789.123456789",
                "0.30000000000000001", String(Int.random(in: Int.min...Int.max, using: &generator)),
                String(Double.random(in: -1e6...1e6, using: &generator)),
            ]
            bytes += Array((numbers.randomElement(using: &generator) ?? "0").utf8)
        case 3:
            string(into: &bytes, using: &generator)
        case 4:
            bytes += Array((["true", "false", "null"].randomElement(using: &generator) ?? "null").utf8)
        default:
            string(into: &bytes, using: &generator)
        }
    }

    static func string(into bytes: inout [UInt8], using generator: inout SplitMix64) {
        let pieces = [
            "a", "é", "\\n", "\\u0000", "\\u001b", "\\ud83d\\ude00", "\\ud800", "\\udc00x", "\\\"", "\\\\", "\u{202E}",
            "日本", "\\u2028",
        ]
        bytes += Array("\"".utf8)
        for _ in 0..<Int.random(in: 0...4, using: &generator) {
            bytes += Array((pieces.randomElement(using: &generator) ?? "a").utf8)
        }
        if Int.random(in: 0..<30, using: &generator) == 0 { bytes.append(0xC3) }  // a cut-off UTF-8 sequence
        bytes += Array("\"".utf8)
    }
}

@Suite("Names, ids and typed text that can't forge or confuse")
struct NameAndTextTests {
    @Test(arguments: ["a\u{202E}b", "a\u{FFFD}", "zero\u{200B}width", "bell\u{7}", String(repeating: "x", count: 201)])
    func onboardingIdsThatCouldForgeOrConfuseAreRefused(id: String) throws {
        let definition = try loadWorkflow("mail-send")
        let interpreter = Interpreter(definition: definition)
        let error = #expect(throws: (any Error).self) {
            try interpreter.decide(nil, .start(onboardingId: id, inputs: ["company": "C", "path": "standard"]), now: t0)
        }
        #expect((error as? DecisionError)?.code == .invalidInput)
    }

    @Test(arguments: [
        ("\u{1B}[31mred", "company: may not hold the control character U+001B"),
        ("   ", "company: is required and may not be empty"),
        ("", "company: is required and may not be empty"),
        ("right\u{202E}left", "company: may not hold the control character U+202E"),
    ])
    func typedTextRefusesControlCharactersAndEmptyRequiredValues(company: String, message: String) throws {
        let interpreter = Interpreter(definition: try loadWorkflow("mail-send"))
        let error = #expect(throws: (any Error).self) {
            try interpreter.decide(
                nil, .start(onboardingId: "x", inputs: ["company": .string(company), "path": "standard"]), now: t0)
        }
        #expect((error.map { String(describing: $0) } ?? "").contains(message))
    }

    @Test func aURLWithALineBreakIsRefusedAndTextKeepsItsLines() throws {
        let source = """
            id: text
            title: T
            version: 1
            roles: [a]
            inputs:
              link: { type: url, required: true }
              notes: { type: text }
            start: done
            steps:
              - id: done
                end:
                  status: completed
            """
        let interpreter = Interpreter(definition: try WorkflowLoader.load(source: source, file: "text.yaml").get())
        let error = #expect(throws: (any Error).self) {
            try interpreter.decide(
                nil, .start(onboardingId: "x", inputs: ["link": "https://example.com/\r\nSet-Cookie: a=b"]), now: t0)
        }
        #expect((error.map { String(describing: $0) } ?? "").contains("link: may not hold a line break U+000D"))
        let events = try interpreter.decide(
            nil, .start(onboardingId: "x", inputs: ["link": "https://example.com/", "notes": "one\ntwo\tthree"]),
            now: t0)
        #expect(interpreter.replay(events)?.inputs["notes"] == "one\ntwo\tthree")
    }
}
