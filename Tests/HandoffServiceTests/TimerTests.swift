import Foundation
import HandoffCore
import HandoffService
import HandoffStore
import HandoffTestSupport
import Postgres
import Synchronization
import Timestamps
import Testing

/// The one clock a test moves: the engine's only source of time.
final class TestClock: Sendable {
    private let current: Mutex<Date>

    init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        current = Mutex(start)
    }

    func now() -> Date { current.withLock { $0 } }

    func advance(_ seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }
}

/// A workflow folder with `tick`: an hour's timer, then a task.
enum TickWorkflow {
    static let source = """
        id: tick
        title: Tick
        version: 1
        roles: [solutions_engineer]
        start: wait-an-hour
        steps:
          - id: wait-an-hour
            title: Wait an hour
            timer:
              for: 1h
          - id: after
            title: After the hour
            task:
              role: solutions_engineer
              title: After the hour
              checklist:
                - id: done
                  text: Done
          - id: finish
            end: completed
        """

    static func folder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tick-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try source.write(to: folder.appendingPathComponent("tick.yaml"), atomically: true, encoding: .utf8)
        return folder
    }
}

@Suite("Timers that fire")
struct TimerTests {
    static func engine(_ database: TestDatabase, _ clock: TestClock, workflows: URL) -> Engine {
        Engine(pool: database.pool, workflows: WorkflowLibrary(folder: workflows), clock: { clock.now() })
    }

    /// `next_timer_at`, which the scheduler's index orders by, is written by the engine with the rest of the row;
    /// `verify` finds it wrong and a rebuild writes it again.
    @Test func theNextTimerColumnIsTheEarliestPendingTimerAndVerifyChecksIt() async throws {
        let database = try await TestDatabase.make()
        let folder = try TickWorkflow.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let clock = TestClock()
        let engine = Self.engine(database, clock, workflows: folder)
        _ = try await engine.start(workflow: "tick", inputs: [:], id: "t1", actor: "olivia")
        let due = try #require(try await engine.onboarding("t1").timers.first?.dueAt)
        let column = "SELECT to_char(next_timer_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM onboardings"
        #expect(try await database.column(column + " WHERE id = 't1'") == [Timestamp.format(due)])
        #expect(try await engine.verify().problems == [])

        _ = try await database.column("UPDATE onboardings SET next_timer_at = next_timer_at + interval '1 hour' RETURNING 1")
        #expect(try await engine.verify().problems == ["t1: its onboardings row differs from its stream"])
        _ = try await engine.rebuildProjections()
        #expect(try await database.column(column + " WHERE id = 't1'") == [Timestamp.format(due)])
        #expect(try await engine.verify().problems == [])

        clock.advance(3600)
        #expect(try await engine.fireDueTimers() == 1)
        #expect(try await database.column(column + " WHERE id = 't1'") == [nil])
        #expect(try await engine.verify().problems == [])
    }

    @Test func aTimerFiresOnceWhenItFallsDueAndNeverBefore() async throws {
        let database = try await TestDatabase.make()
        let folder = try TickWorkflow.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let clock = TestClock()
        let engine = Self.engine(database, clock, workflows: folder)
        _ = try await engine.start(workflow: "tick", inputs: [:], id: "t1", actor: "olivia")
        #expect(try await engine.onboarding("t1").timers.count == 1)

        #expect(try await engine.fireDueTimers() == 0)
        clock.advance(3599)
        #expect(try await engine.fireDueTimers() == 0, "a timer fired a second early")
        #expect(try await engine.tasks(TaskQuery(onboardingId: "t1"), limit: 10, after: nil).items.isEmpty)
        clock.advance(1)
        #expect(try await engine.fireDueTimers() == 1)
        let history = try await engine.history("t1")
        #expect(history.filter { $0.type == "TimerFired" }.count == 1)
        #expect(history.last { $0.type == "TimerFired" }?.actor == Engine.schedulerActor)
        #expect(try await engine.onboarding("t1").currentSteps == ["after"])
        #expect(try await engine.onboarding("t1").timers.isEmpty)
        // Nothing is due any more; firing the same timer again writes nothing.
        clock.advance(3600)
        #expect(try await engine.fireDueTimers() == 0)
        guard case .object(let scheduled)? = history.first(where: { $0.type == "TimerScheduled" })?.data,
            let timerId = scheduled["timerId"]?.stringValue
        else {
            Issue.record("no TimerScheduled event")
            return
        }
        let versionBefore = history.count
        _ = try await engine.fireTimer(onboardingId: "t1", timerId: timerId)
        #expect(try await engine.history("t1").count == versionBefore)
        #expect(try await engine.verify().problems == [])
    }

    /// Regression: with a clock between two milliseconds, a timer due at this millisecond was due for the
    /// database but not for the scheduler, and never fired.
    @Test func aTimerFiresAtItsDueMillisecondWhateverTheClocksFraction() async throws {
        let database = try await TestDatabase.make()
        let folder = try TickWorkflow.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000.1236))
        let engine = Self.engine(database, clock, workflows: folder)
        _ = try await engine.start(workflow: "tick", inputs: [:], id: "f1", actor: "olivia")
        clock.advance(3600)
        #expect(try await engine.fireDueTimers() == 1)
        #expect(try await engine.onboarding("f1").currentSteps == ["after"])
    }

    @Test func timersThatFellDueWhileNothingRanFireOnceOnRestartInDueOrder() async throws {
        let database = try await TestDatabase.make()
        let folder = try TickWorkflow.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let clock = TestClock()
        let engine = Self.engine(database, clock, workflows: folder)
        // Started a minute apart in reverse name order, so due order is not name order.
        for index in (0..<6).reversed() {
            _ = try await engine.start(workflow: "tick", inputs: [:], id: "d\(index)", actor: "olivia")
            clock.advance(60)
        }
        // A day of downtime, then a scheduler that takes two at a time and fires one onboarding at a time (with
        // more at once, firing starts in due order and commits may swap within the onboardings in flight).
        clock.advance(86_400)
        var passes = 0
        while try await engine.fireDueTimers(limit: 2, concurrency: 1) > 0 { passes += 1 }
        #expect(passes == 3)
        let fired = try await database.column(
            "SELECT stream_id FROM events WHERE type = 'TimerFired' ORDER BY position")
        #expect(fired == ["d5", "d4", "d3", "d2", "d1", "d0"])
        #expect(try await engine.verify().problems == [])
    }

    /// A wait with a timeout: the signal and the timeout racing each other, many times; exactly one wins each race.
    @Test func aSignalAndItsTimeoutRacingHaveExactlyOneWinner() async throws {
        let database = try await TestDatabase.make()
        let clock = TestClock()
        let engine = Self.engine(database, clock, workflows: Repository.workflows)
        let rounds = 12
        for index in 0..<rounds {
            _ = try await engine.start(
                workflow: "partner-go-live", inputs: ["company": "Contoso", "contact_email": "ceo@contoso.com"],
                id: "race\(index)", actor: "olivia")
            // The contract goes out; the wait for its signature (7 days at most) begins.
            let send = try #require(
                try await engine.tasks(TaskQuery(onboardingId: "race\(index)"), limit: 10, after: nil).items
                    .first { $0.step == "send-contract" })
            _ = try await engine.claim(taskId: send.id, user: "pat", roles: ["partner_integration_manager"])
            _ = try await engine.complete(taskId: send.id, user: "pat", outputs: [:], checklist: ["sent"])
            #expect(try await engine.onboarding("race\(index)").awaitedSignals == ["contract-signed"])
        }
        clock.advance(7 * 86_400)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<rounds {
                let id = "race\(index)"
                group.addTask {
                    do {
                        _ = try await engine.signal(onboardingId: id, name: "contract-signed", actor: "pat")
                    } catch let error as EngineError {
                        #expect(error.code == .signalNotAwaited, "\(error)")
                    }
                }
                group.addTask { _ = try await engine.fireDueTimers() }
            }
            try await group.waitForAll()
        }
        for index in 0..<rounds {
            let id = "race\(index)"
            let history = try await engine.history(id)
            let signals = history.filter { $0.type == "SignalReceived" }.count
            // The wait's timeout (configure-tenant, due in three days, is overdue by now too: its timer is not counted).
            let timeouts = history.filter { $0.type == "TimerFired" && $0.data == .object(["path": "contract-signed", "timerId": .string("\(id)-timer2")]) }.count
            #expect(signals + timeouts == 1, "\(id): \(signals) signals and \(timeouts) timeouts")
        }
        #expect(try await engine.verify().problems == [])
    }
}

@Suite("Schedulers in several processes", .serialized)
struct SchedulerProcessTests {
    /// Starts `handoff worker` on the database; returns its pid and where its stderr goes.
    static func worker(_ database: TestDatabase, folder: URL, name: String) throws -> Int32 {
        try HandoffProcess.startWorker(database, folder: folder, name: name, extra: ["HANDOFF_TIMER_LEASE_SECONDS": "2"])
    }

    static func fired(_ database: TestDatabase) async throws -> Int {
        let rows = try await database.column("SELECT count(*) FROM events WHERE type = 'TimerFired'")
        return rows.first.flatMap { $0.flatMap(Int.init) } ?? 0
    }

    @Test func threeSchedulersFireTwoThousandDueTimersExactlyOnceThoughOneIsKilledMidRun() async throws {
        let database = try await TestDatabase.make()
        let folder = try TickWorkflow.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        // Started two hours ago by the engine's clock: every one-hour timer is due now.
        let past = TestClock(Date().addingTimeInterval(-7200))
        let engine = TimerTests.engine(database, past, workflows: folder)
        let count = 2000
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<8 {
                group.addTask {
                    for index in stride(from: lane, to: count, by: 8) {
                        _ = try await engine.start(workflow: "tick", inputs: [:], id: "m\(index)", actor: "olivia")
                    }
                }
            }
            try await group.waitForAll()
        }
        let pids = try (0..<3).map { try Self.worker(database, folder: folder, name: "worker\($0)") }
        // Kill one as soon as timers are firing.
        #expect(try await eventually(within: 60) { try await Self.fired(database) > 50 })
        kill(pids[0], SIGKILL)
        _ = try await offload { try ChildProcess.waitForExit(pids[0]) }

        let all = try await eventually(within: 120) { try await Self.fired(database) == count }
        #expect(all, "not every timer fired")
        for pid in pids.dropFirst() {
            kill(pid, SIGTERM)
            let status = try await offload { try ChildProcess.waitForExit(pid) }
            #expect(status == 0, "a worker did not stop cleanly")
        }
        let twice = try await database.column(
            "SELECT stream_id FROM events WHERE type = 'TimerFired' GROUP BY stream_id HAVING count(*) > 1")
        #expect(twice.isEmpty, "timers fired twice: \(twice.prefix(5))")
        #expect(try await database.column("SELECT count(*) FROM onboardings WHERE next_timer_at IS NOT NULL") == ["0"])
        #expect(try await database.column("SELECT count(*) FROM tasks WHERE state = 'open'") == ["\(count)"])
        #expect(try await engine.verify().problems == [])
    }
}

@Suite("Overdue tasks")
struct OverdueTests {
    @Test func aTaskPastItsDueTimeIsOverdueInTheEngineAndTheCommandLine() async throws {
        let database = try await TestDatabase.make()
        let clock = TestClock(Date().addingTimeInterval(-3 * 86_400))
        let engine = TimerTests.engine(database, clock, workflows: Repository.workflows)
        _ = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "late", actor: "olivia")
        // The client-sync task is due two days after it opened.
        clock.advance(2 * 86_400 - 1)
        #expect(try await engine.tasks(overdue: true).items.isEmpty)
        clock.advance(2)
        #expect(try await engine.tasks(overdue: true).items.map(\.id) == ["late-t1"])
        // The dashboard's figures follow the log (the async `counts` projection); overdue is counted as of now.
        try await followToTheEnd(engine)
        #expect(try await engine.stats().tasks.first { $0.role == "customer_admin" }?.overdue == 1)

        // The command line's clock is the real one: three days on, the task is overdue there too.
        let environment = ["DATABASE_URL": database.connectionString, "HANDOFF_WORKFLOWS": Repository.workflows.path]
        let listed = try await HandoffProcess.run(["tasks", "--overdue"], environment: environment)
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.contains("late-t1") && listed.stdout.contains("OVERDUE"), "\(listed.stdout)")
        let json = try await HandoffProcess.run(["tasks", "--overdue", "--role", "solutions_engineer", "--json"], environment: environment)
        #expect(json.stdout.contains(#""tasks" : ["#) && !json.stdout.contains("late-t1"), "\(json.stdout)")
        // Completed work is never overdue.
        _ = try await engine.claim(taskId: "late-t1", user: "alice", roles: ["customer_admin"])
        _ = try await engine.complete(
            taskId: "late-t1", user: "alice", outputs: ["client_id": "C-1"], checklist: ["client-synced", "client-listed"])
        #expect(try await engine.tasks(overdue: true).items.isEmpty)
    }
}

/// Tasks with a due time, reminders, an escalation and a claim timeout.
enum ChoresWorkflow {
    static func source(mode: String) -> String {
        """
        id: chores-\(mode)
        title: Chores
        version: 1
        roles: [customer_admin, solutions_engineer]
        start: do-it
        steps:
          - id: do-it
            title: Do it
            task:
              role: customer_admin
              title: Do it
              checklist:
                - id: done
                  text: Done
              due: 2d
              remind:
                before: 1d
                after: 1d
              escalate:
                after: 4d
                to: solutions_engineer
                mode: \(mode)
              claim_timeout: 4h
          - id: finish
            end: completed
        """
    }

    static func folder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("chores-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for mode in ["move", "add"] {
            try source(mode: mode).write(to: folder.appendingPathComponent("chores-\(mode).yaml"), atomically: true, encoding: .utf8)
        }
        return folder
    }
}

@Suite("Reminders, escalation and claim expiry")
struct TaskTimerTests {
    /// The types of the events since `version`, and the stream's version now.
    static func since(_ engine: Engine, _ id: String, _ version: inout Int) async throws -> [String] {
        let history = try await engine.history(id)
        defer { version = history.count }
        return history.dropFirst(version).map(\.type)
    }

    @Test func remindersOverdueAndAMovingEscalationComeAtTheirTimesAndTheEscalatedRoleClaims() async throws {
        let database = try await TestDatabase.make()
        let folder = try ChoresWorkflow.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let clock = TestClock()
        let engine = TimerTests.engine(database, clock, workflows: folder)
        _ = try await engine.start(workflow: "chores-move", inputs: [:], id: "c1", actor: "olivia")
        var seen = try await engine.history("c1").count
        #expect(try await engine.onboarding("c1").timers.map(\.purpose).sorted() == ["escalation", "overdue", "reminder-after", "reminder-before"])

        clock.advance(86_400 - 1)
        _ = try await engine.fireDueTimers()
        #expect(try await Self.since(engine, "c1", &seen) == [], "a reminder came early")
        clock.advance(1)
        _ = try await engine.fireDueTimers()
        #expect(try await Self.since(engine, "c1", &seen) == ["TimerFired", "TaskReminded"])
        #expect(try await engine.history("c1").last?.data == .object(["taskId": "c1-t1", "when": "before", "role": "customer_admin"]))

        clock.advance(86_400)
        _ = try await engine.fireDueTimers()
        #expect(try await Self.since(engine, "c1", &seen) == ["TimerFired", "TaskOverdue"])
        #expect(try await engine.tasks(overdue: true).items.map(\.id) == ["c1-t1"])

        clock.advance(86_400)
        _ = try await engine.fireDueTimers()
        #expect(try await Self.since(engine, "c1", &seen) == ["TimerFired", "TaskReminded"])

        // Four days after it opened, the task moves to the solutions engineers.
        do {
            _ = try await engine.claim(taskId: "c1-t1", user: "sam", roles: ["solutions_engineer"])
            Issue.record("another role claimed the task before its escalation")
        } catch {
            #expect(error.code == .forbiddenRole)
        }
        clock.advance(86_400)
        _ = try await engine.fireDueTimers()
        #expect(try await Self.since(engine, "c1", &seen) == ["TimerFired", "TaskEscalated"])
        #expect(try await engine.task("c1-t1").role == "solutions_engineer")
        #expect(try await engine.tasks(TaskQuery(roles: ["solutions_engineer"]), limit: 10, after: nil).items.map(\.id) == ["c1-t1"])
        do {
            _ = try await engine.claim(taskId: "c1-t1", user: "alice", roles: ["customer_admin"])
            Issue.record("the role the task moved away from still claimed it")
        } catch {
            #expect(error.code == .forbiddenRole)
        }
        _ = try await engine.claim(taskId: "c1-t1", user: "sam", roles: ["solutions_engineer"])
        _ = try await engine.complete(taskId: "c1-t1", user: "sam", outputs: [:], checklist: ["done"])
        #expect(try await engine.onboarding("c1").state == "completed")
        #expect(try await engine.onboarding("c1").timers.isEmpty)
        #expect(try await engine.verify().problems == [])
    }

    @Test func anExpiredClaimIsReleasedWithItsReasonAndTheLateCompletionIsRefusedAndWritesNothing() async throws {
        let database = try await TestDatabase.make()
        let folder = try ChoresWorkflow.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let clock = TestClock()
        let engine = TimerTests.engine(database, clock, workflows: folder)
        _ = try await engine.start(workflow: "chores-add", inputs: [:], id: "e1", actor: "olivia")
        _ = try await engine.claim(taskId: "e1-t1", user: "alice", roles: ["customer_admin"])
        clock.advance(4 * 3600)
        _ = try await engine.fireDueTimers()
        let released = try #require(try await engine.history("e1").last)
        #expect(released.type == "TaskReleased")
        #expect(released.data == .object(["taskId": "e1-t1", "assignee": "alice", "reason": "the claim expired after 4h"]))
        #expect(try await engine.task("e1-t1").state == "open")

        let before = try await engine.history("e1").count
        do {
            _ = try await engine.complete(taskId: "e1-t1", user: "alice", outputs: [:], checklist: ["done"])
            Issue.record("the late completion was taken")
        } catch {
            #expect(error.code == .taskNotClaimedByYou)
        }
        #expect(try await engine.history("e1").count == before)

        // Claimed again and released by hand: that claim's expiry is withdrawn with it.
        _ = try await engine.claim(taskId: "e1-t1", user: "alice", roles: ["customer_admin"])
        _ = try await engine.release(taskId: "e1-t1", user: "alice")
        #expect(try await engine.onboarding("e1").timers.contains { $0.purpose == "claim-expiry" } == false)

        // Escalation that adds a role: both may claim now.
        clock.advance(4 * 86_400)
        _ = try await engine.fireDueTimers()
        #expect(try await engine.history("e1").contains { $0.type == "TaskEscalated" })
        #expect(try await engine.task("e1-t1").role == "customer_admin")
        #expect(try await engine.task("e1-t1").escalatedRoles == ["solutions_engineer"])
        // The added role finds it in its listing and its queue, and so does the task's own role.
        let listed = try await engine.tasks(TaskQuery(roles: ["solutions_engineer"]), limit: 10, after: nil)
        #expect(listed.items.map(\.id) == ["e1-t1"])
        #expect(try await engine.tasks(TaskQuery(roles: ["customer_admin"]), limit: 10, after: nil).items.map(\.id) == ["e1-t1"])
        #expect(try await engine.tasks(TaskQuery(roles: ["partner_integration_manager"]), limit: 10, after: nil).items.isEmpty)
        let next = try await engine.nextTask(roles: ["solutions_engineer"], user: "sam")
        #expect(next?.id == "e1-t1")
        #expect(next?.assignee == "sam")
        _ = try await engine.complete(
            taskId: "e1-t1", user: "sam", outputs: [:], checklist: ["done"], roles: ["solutions_engineer"])
        #expect(try await engine.onboarding("e1").state == "completed")
        #expect(try await engine.verify().problems == [])
        #expect(try await engine.rebuildProjections().tasks == 1)
        #expect(try await engine.task("e1-t1").escalatedRoles == ["solutions_engineer"])
    }
}

@Suite("Due times from an expression")
struct DueExpressionTests {
    @Test func aContractDueYesterdayIsOverdueFromTheStartAndItsOverdueEventFiresAtOnce() async throws {
        let database = try await TestDatabase.make()
        let clock = TestClock()
        let engine = TimerTests.engine(database, clock, workflows: Repository.workflows)
        let yesterday = clock.now().addingTimeInterval(-86_400)
        _ = try await engine.start(
            workflow: "partner-go-live",
            inputs: ["company": "Fabrikam", "contact_email": "legal@fabrikam.example", "contract_by": .string(Timestamp.format(yesterday))],
            id: "g1", actor: "olivia")
        let contract = try await engine.task("g1-t1")
        #expect(contract.dueAt == yesterday)
        #expect(try await engine.tasks(overdue: true).items.map(\.id) == ["g1-t1"])
        _ = try await engine.fireDueTimers()
        #expect(try await engine.history("g1").contains { $0.type == "TaskOverdue" })

        // Without the input there is no due time.
        _ = try await engine.start(
            workflow: "partner-go-live", inputs: ["company": "Contoso", "contact_email": "legal@contoso.example"],
            id: "g2", actor: "olivia")
        #expect(try await engine.task("g2-t1").dueAt == nil)
        #expect(try await engine.verify().problems == [])
    }

    @Test func aContractTimeThatIsNotATimeIsRefusedAndNothingIsWritten() async throws {
        let database = try await TestDatabase.make()
        let engine = TimerTests.engine(database, TestClock(), workflows: Repository.workflows)
        let before = try await database.column("SELECT count(*) FROM events")
        do {
            _ = try await engine.start(
                workflow: "partner-go-live",
                inputs: ["company": "Fabrikam", "contact_email": "legal@fabrikam.example", "contract_by": "next friday"],
                id: "g3", actor: "olivia")
            Issue.record("a start with a contract time that is not a time was taken")
        } catch {
            #expect(error.code == .invalidInput)
            #expect(error.message.contains("contract_by"))
        }
        #expect(try await database.column("SELECT count(*) FROM events") == before)
    }
}

@Suite("Signals with a declared shape")
struct SignalShapeTests {
    static let source = """
        id: consent
        title: Consent
        version: 1
        roles: [customer_admin]
        start: wait-for-consent
        steps:
          - id: wait-for-consent
            title: Wait for the consent
            wait:
              signal: consented
              timeout: 1d
              on_timeout: chase
              data:
                by: { type: email, required: true }
                scopes: { type: integer, default: 1 }
            next: done
          - id: chase
            task:
              role: customer_admin
              title: Chase the consent
              checklist: [Chased]
          - id: done
            end: completed
        """

    @Test func theSignalResumesTheWaitAMalformedPayloadIsRefusedAndTheTimeoutBranchRunsWithoutOne() async throws {
        let database = try await TestDatabase.make()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("consent-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Self.source.write(to: folder.appendingPathComponent("consent.yaml"), atomically: true, encoding: .utf8)
        let clock = TestClock()
        let engine = TimerTests.engine(database, clock, workflows: folder)
        _ = try await engine.start(workflow: "consent", inputs: [:], id: "s1", actor: "olivia")
        _ = try await engine.start(workflow: "consent", inputs: [:], id: "s2", actor: "olivia")

        let versions = try await engine.history("s1").count
        let malformed: [(Value, String)] = [
            (.string("yes"), "must be an object with by, scopes"),
            (.object([:]), "by: is required"),
            (.object(["by": "not-an-address"]), "by:"),
            (.object(["by": "ceo@contoso.com", "scopes": "many"]), "scopes:"),
            (.object(["by": "ceo@contoso.com", "extra": true]), "extra: is not a field of signal 'consented'"),
        ]
        for (data, message) in malformed {
            do {
                _ = try await engine.signal(onboardingId: "s1", name: "consented", data: data, actor: "pat")
                Issue.record("the signal with \(data.jsonText) was taken")
            } catch {
                #expect(error.code == .invalidInput)
                #expect(error.message.contains(message), "\(error.message)")
            }
        }
        #expect(try await engine.history("s1").count == versions, "a refused signal wrote something")

        _ = try await engine.signal(onboardingId: "s1", name: "consented", data: ["by": "ceo@contoso.com"], actor: "pat")
        let received = try #require(try await engine.history("s1").first { $0.type == "SignalReceived" })
        #expect(received.data == .object(["path": "wait-for-consent", "signal": "consented", "data": ["by": "ceo@contoso.com", "scopes": 1]]))
        #expect(try await engine.onboarding("s1").state == "completed")

        // No signal for a day: the timeout branch.
        clock.advance(86_400)
        _ = try await engine.fireDueTimers()
        #expect(try await engine.onboarding("s2").currentSteps == ["chase"])
        #expect(try await engine.verify().problems == [])
    }
}

@Suite("Cloned onboardings keep their own timers")
struct CloneTimerTests {
    /// Regression: the bench's clones kept the source's timer ids in their projection rows, so a scheduler looked
    /// for timers their streams never had.
    @Test func aClonesTimersAreItsOwnAndFire() async throws {
        let database = try await TestDatabase.make()
        let clock = TestClock()
        let engine = TimerTests.engine(database, clock, workflows: Repository.workflows)
        _ = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "src", actor: "olivia")
        try await database.pool.withConnection { connection in
            try Baselines.cloneOnboarding(on: connection, source: "src", tag: "c", first: 1, count: 2)
        }
        #expect(try await engine.onboarding("src-c0000001").timers.map(\.id) == ["src-c0000001-timer1"])
        clock.advance(3 * 86_400)
        while try await engine.fireDueTimers() > 0 {}
        for id in ["src", "src-c0000001", "src-c0000002"] {
            #expect(try await engine.history(id).contains { $0.type == "TaskOverdue" }, "\(id)")
        }
        #expect(try await engine.verify().problems == [])
    }
}
