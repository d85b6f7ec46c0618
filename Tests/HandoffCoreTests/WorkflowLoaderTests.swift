import Foundation
import HandoffCore
import Testing

/// Every check of the loader, each with a broken file and the exact diagnostics expected.
@Suite("Loading and checking workflow files")
struct WorkflowLoaderTests {
    /// A small valid workflow; tests break one thing in it at a time.
    static let valid = """
        id: tiny
        title: Tiny
        version: 1
        roles: [admin]
        inputs:
          count: { type: integer, required: true }
          mode: { type: enum, values: [fast, slow] }
        steps:
          - id: ask
            task:
              role: admin
              title: Ask ${inputs.count} times
              outputs:
                name: { type: string, required: true }
          - id: done
            end: completed
        """

    @Test func theValidFileLoads() throws {
        let definition = try WorkflowLoader.load(source: Self.valid, file: "test.yaml").get()
        #expect(definition.id == "tiny")
        #expect(definition.version == 1)
        #expect(definition.start == "ask")
        #expect(definition.steps["ask"]?.next == "done")
        #expect(definition.contentHash == WorkflowLoader.contentHash(of: Data(Self.valid.utf8)))
        #expect(definition.contentHash.count == 64)
    }

    @Test func loadingIsDeterministicAndRepeatableFromTheSource() throws {
        let first = try WorkflowLoader.load(source: Self.valid, file: "a.yaml").get()
        let again = try WorkflowLoader.load(source: first.source, file: "a.yaml").get()
        #expect(first == again)
    }

    @Test func yamlSyntax() {
        #expect(
            problems("id: tiny\nroles: [admin\nsteps: []\n") == [
                "3:6: YAML syntax error: did not find expected ',' or ']'"
            ])
    }

    @Test func unknownFieldsAreNamedWithASuggestion() {
        let source = Self.valid.replacingOccurrences(of: "      title: Ask", with: "      titel: Ask")
        #expect(
            problems(source) == [
                "10:5: the task of step 'ask' is missing 'title'",
                "12:7: unknown field 'titel' in the task of step 'ask' (did you mean 'title'?)",
            ])
    }

    @Test func unknownTopLevelField() {
        #expect(problems(Self.valid + "\nowner: me") == ["17:1: unknown field 'owner' in the workflow"])
    }

    @Test func duplicateStepIds() {
        let source = Self.valid.replacingOccurrences(of: "  - id: done", with: "  - id: ask")
        #expect(
            problems(source)
                == [
                    "15:9: duplicate step id 'ask' (first used on line 9)",
                    "9:9: step 'ask' is the last step: give it 'next' or make it an 'end' step",
                ].sorted(by: Self.byPosition))
    }

    @Test func unknownStepReference() {
        let source = Self.valid.replacingOccurrences(
            of: "          - id: done", with: "          - id: done"
        )
        .replacingOccurrences(of: "  - id: done\n", with: "    next: finish\n  - id: done\n")
        #expect(problems(source) == ["15:11: step 'ask' refers to unknown step 'finish'"])
    }

    /// Regression: near misses got a suggestion for fields, not for step names.
    @Test func aMistypedStepNameGetsASuggestion() {
        let source = Self.valid.replacingOccurrences(of: "  - id: done\n", with: "    next: dnoe\n  - id: done\n")
        #expect(problems(source) == ["15:11: step 'ask' refers to unknown step 'dnoe'; did you mean 'done'?"])
    }

    @Test func unknownRole() {
        let source = Self.valid.replacingOccurrences(of: "role: admin", with: "role: adnim")
        #expect(problems(source) == ["11:13: step 'ask' has unknown role 'adnim' (roles are: admin)"])
    }

    @Test func unknownValuesInExpressions() {
        let source = Self.valid.replacingOccurrences(of: "Ask ${inputs.count}", with: "Ask ${inputs.cuont} ${vars.X}")
        #expect(
            problems(source) == [
                "12:20: 'inputs.cuont' refers to unknown input 'cuont'",
                "12:36: 'vars.X' refers to variable 'X', which no 'set' step records",
            ])
    }

    @Test func unknownStepOutput() {
        let source = Self.valid.replacingOccurrences(of: "Ask ${inputs.count}", with: "Ask ${steps.ask.nmae}")
        #expect(problems(source) == ["12:20: 'steps.ask.nmae': step 'ask' has no output 'nmae' (it has name)"])
    }

    @Test func unreachableStep() {
        let source = Self.valid + "\n  - id: orphan\n    end: completed"
        #expect(problems(source) == ["17:9: step 'orphan' is unreachable"])
    }

    @Test func pathsThatCanNeverEnd() {
        let source = """
            id: loop
            title: Loop
            version: 1
            roles: [admin]
            steps:
              - id: ask
                task: { role: admin, title: Ask, outputs: { again: { type: boolean } } }
              - id: check
                decision:
                  - when: steps.ask.again
                    next: ask
                  - otherwise: ask
              - id: done
                end: completed
            """
        #expect(
            problems(source) == [
                "6:9: steps 'ask', 'check' can never reach an end: every path from them loops",
                "13:9: step 'done' is unreachable",
            ])
    }

    @Test func lastStepMustEnd() {
        let source = Self.valid.replacingOccurrences(of: "  - id: done\n    end: completed", with: "")
        #expect(problems(source) == ["9:9: step 'ask' is the last step: give it 'next' or make it an 'end' step"])
    }

    @Test func expressionThatDoesNotParse() {
        let source = Self.valid.replacingOccurrences(
            of: "  - id: done\n", with: "  - id: check\n    if: inputs.count >\n    end: failed\n  - id: done\n")
        #expect(
            problems(source) == [
                "16:23: 'if' of step 'check' does not parse: expected a value but found the end of the expression"
            ])
    }

    @Test func comparingIncompatibleTypes() {
        let source = Self.valid.replacingOccurrences(
            of: "  - id: done\n",
            with: "  - id: check\n    if: inputs.count == \"three\"\n    end: failed\n  - id: done\n")
        #expect(problems(source) == ["16:22: cannot compare integer with string"])
    }

    @Test func comparingAnEnumWithAValueItCannotHave() {
        let source = Self.valid.replacingOccurrences(
            of: "  - id: done\n",
            with: "  - id: check\n    if: inputs.mode == \"quick\"\n    end: failed\n  - id: done\n")
        #expect(problems(source) == ["16:24: \"quick\" is not one of the values of inputs.mode (fast, slow)"])
    }

    @Test func conditionsMustBeBooleans() {
        let source = Self.valid.replacingOccurrences(
            of: "  - id: done\n", with: "  - id: check\n    if: inputs.count\n    end: failed\n  - id: done\n")
        #expect(problems(source) == ["16:9: a condition must be true or false, but this is an integer"])
    }

    @Test func outputDefaultsMustFitTheirType() {
        let source = Self.valid.replacingOccurrences(
            of: "name: { type: string, required: true }",
            with: """
                name: { type: string, required: true }
                        ok: { type: boolean, default: maybe }
                        pick: { type: enum, values: [a, b], default: c }
                        login: { type: upn, default: nobody }
                        total: { type: string, default: "${inputs.count}" }
                """)
        #expect(
            problems(source) == [
                "15:39: the default of output 'ok' must be true or false, not \"maybe\"",
                "16:54: the default of output 'pick' must be one of a, b, not \"c\"",
                "17:38: the default of output 'login' must look like name@domain",
                "18:44: the default of output 'total' is an integer, but total is a string",
            ])
    }

    @Test func invalidPattern() {
        let source = Self.valid.replacingOccurrences(
            of: "name: { type: string, required: true }", with: "name: { type: string, pattern: \"[a-z\" }")
        #expect(problems(source) == ["14:40: output 'name' has an invalid pattern: has a '[' without its ']' at character 1"])
    }

    @Test func badDurationAndUnknownType() {
        let source = Self.valid.replacingOccurrences(
            of: "      title: Ask", with: "      due: 2 days\n      title: Ask"
        )
        .replacingOccurrences(of: "mode: { type: enum, values: [fast, slow] }", with: "mode: { type: choice }")
        #expect(
            problems(source) == [
                "7:17: input 'mode' has unknown type 'choice' (types are: string, text, boolean, integer, enum, email, upn, uuid, url, time)",
                "12:12: 'due' of step 'ask' must be a duration such as 30m, 4h, 2d or 1d12h, not '2 days'",
            ])
    }

    @Test func blocksCheckTheirParameters() {
        let source = """
            id: blocks
            title: Blocks
            version: 1
            roles: [admin]
            steps:
              - id: first
                block: { use: greet, with: { who: Ann, loud: 3, colour: red } }
              - id: second
                block: { use: greeet }
              - id: done
                end: completed
            blocks:
              greet:
                params:
                  who: { type: string, required: true }
                  loud: { type: boolean }
                steps:
                  - id: hello
                    task: { role: admin, title: "Hello ${params.who}" }
            """
        #expect(
            problems(source) == [
                "7:44: argument 'loud' of step 'first' must be true or false, not integer 3",
                "7:53: step 'first' passes unknown parameter 'colour' to block 'greet'",
                "9:19: step 'second' uses unknown block 'greeet' (blocks are: greet)",
            ])
    }

    @Test func everyProblemIsReportedInFileOrder() {
        let source = """
            id: many
            title: Many
            version: one
            roles: [admin]
            steps:
              - id: a
                task: { role: boss, title: A }
                next: nowhere
              - id: b
                wait: { signal: go, timeout: soon }
              - id: c
                end: done
            """
        #expect(
            problems(source) == [
                "3:10: 'version' must be a whole number",
                "7:19: step 'a' has unknown role 'boss' (roles are: admin)",
                "8:11: step 'a' refers to unknown step 'nowhere'",
                "10:34: 'timeout' of step 'b' must be a duration such as 30m, 4h, 2d or 1d12h, not 'soon'",
                "12:10: 'end' of step 'c' must be 'completed' or 'failed', not 'done'",
            ])
    }

    @Test func duplicateWorkflowIdsAcrossFiles() {
        let result = WorkflowLoader.loadAll([
            ("workflows/a.yaml", Data(Self.valid.utf8)),
            ("workflows/b.yaml", Data(Self.valid.replacingOccurrences(of: "title: Tiny", with: "title: Other").utf8)),
        ])
        guard case .failure(let error) = result else {
            Issue.record("expected a failure")
            return
        }
        #expect(
            error.diagnostics.map(\.description) == [
                "workflows/b.yaml:1:1: workflow id 'tiny' is already used by workflows/a.yaml"
            ])
    }

    @Test func diagnosticsPrintLikeACompiler() {
        let diagnostic = Diagnostic(
            file: "workflows/x.yaml", line: 12, column: 9, message: "step 'notify-pim' refers to unknown step 'finish'")
        #expect(diagnostic.description == "workflows/x.yaml:12:9: step 'notify-pim' refers to unknown step 'finish'")
    }

    static func byPosition(_ a: String, _ b: String) -> Bool {
        let left = a.split(separator: ":").prefix(2).compactMap { Int($0) }
        let right = b.split(separator: ":").prefix(2).compactMap { Int($0) }
        return left.lexicographicallyPrecedes(right)
    }
}
