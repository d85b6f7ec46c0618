import Foundation
import HandoffCore
import Testing

/// A task's `remind`, `escalate` and `claim_timeout`, as the loader reads and checks them.
@Suite("Task timers in workflow files")
struct TaskTimerLoaderTests {
    static func workflow(task extra: String) -> String {
        """
        id: w
        title: W
        version: 1
        roles: [customer_admin, solutions_engineer]
        inputs:
          deadline: time
        steps:
          - id: a
            task:
              role: customer_admin
              title: A
        \(extra.split(separator: "\n", omittingEmptySubsequences: false).map { "      " + $0 }.joined(separator: "\n"))
          - id: done
            end: completed
        """
    }

    @Test func theFieldsAreRead() throws {
        let source = Self.workflow(task: "due: 2d\nremind: { before: 1d, after: 12h }\nescalate: { after: 3d, to: solutions_engineer, mode: move }\nclaim_timeout: 4h")
        #expect(problems(source) == [])
        guard case .success(let definition) = WorkflowLoader.load(source: source, file: "w.yaml"),
            case .task(let task)? = definition.steps["a"]?.kind
        else {
            Issue.record("the workflow does not load")
            return
        }
        #expect(task.remindBefore?.seconds == 86_400 && task.remindAfter?.seconds == 43_200)
        #expect(task.escalation?.after.seconds == 3 * 86_400)
        #expect(task.escalation?.role == "solutions_engineer" && task.escalation?.mode == .move)
        #expect(task.claimTimeout?.seconds == 14_400)
    }

    @Test(arguments: [
        ("remind: { before: 1d }", "'remind' of step 'a' needs 'due': reminders are timed from the due time"),
        ("escalate: { after: 3d, to: solutions_enginer }", "'escalate.to' of step 'a' is unknown role 'solutions_enginer' (did you mean 'solutions_engineer'?)"),
        ("escalate: { after: 3d, to: customer_admin }", "'escalate.to' of step 'a' is the task's own role 'customer_admin'"),
        ("escalate: { after: 3d, to: solutions_engineer, mode: swap }", "'escalate.mode' of step 'a' is add or move, not 'swap'"),
        ("escalate: { to: solutions_engineer }", "'escalate' of step 'a' is missing 'after'"),
        ("claim_timeout: soon", "'claim_timeout' of step 'a'"),
        ("remind: { before: 1d, every: 2h }\ndue: 3d", "every"),
        ("due: ${inputs.deadlin}", "unknown input 'deadlin'"),
        ("due: tomorrow", "'due' of step 'a' must be a duration such as 30m, 4h, 2d or 1d12h, not 'tomorrow'"),
    ])
    func mistakesAreNamed(extra: String, message: String) {
        let found = problems(Self.workflow(task: extra))
        #expect(found.contains { $0.contains(message) }, "\\(found)")
    }

    /// The `deadline` input (`type: time`) of the test workflow.
    static var deadline: FieldSpec? {
        guard case .success(let definition) = WorkflowLoader.load(source: workflow(task: "due: 1d"), file: "w.yaml") else {
            return nil
        }
        return definition.inputs.first { $0.name == "deadline" }
    }

    @Test func aDueTimeMayComeFromAnExpression() throws {
        let source = Self.workflow(task: "due: ${inputs.deadline}\nremind: { before: 1d }")
        #expect(problems(source) == [])
        guard case .success(let definition) = WorkflowLoader.load(source: source, file: "w.yaml"),
            case .task(let task)? = definition.steps["a"]?.kind, case .at(let value)? = task.due
        else {
            Issue.record("the workflow does not load with an expression for 'due'")
            return
        }
        #expect(value.description == "${inputs.deadline}")
    }

    @Test(arguments: [
        ("2026-01-31T09:00:00Z", "2026-01-31T09:00:00.000Z"), ("2026-01-31T10:30:00.25+01:00", "2026-01-31T09:30:00.250Z"),
        ("2026-01-31", "2026-01-31T00:00:00.000Z"),
    ])
    func aTimeFieldTakesISOTimesAndStoresThemInUTC(given: String, stored: String) throws {
        let spec = try #require(Self.deadline)
        #expect(spec.check(.string(given)) == .success(.string(stored)))
    }

    @Test(arguments: ["tomorrow", "2026-02-31T09:00:00Z", "31/01/2026", "", "2026-01-31T09:00:00Z\n"])
    func aTimeFieldRefusesWhatIsNotOne(given: String) throws {
        let spec = try #require(Self.deadline)
        guard case .failure(let problem) = spec.check(.string(given)) else {
            Issue.record("'\(given)' was taken as a time")
            return
        }
        #expect(problem.field == "deadline")
    }
}
