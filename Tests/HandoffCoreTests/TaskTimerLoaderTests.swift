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
    ])
    func mistakesAreNamed(extra: String, message: String) {
        let found = problems(Self.workflow(task: extra))
        #expect(found.contains { $0.contains(message) }, "\\(found)")
    }
}
