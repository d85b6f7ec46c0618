import Foundation
import HandoffCore
import HandoffStore
import HandoffTestSupport
import Testing

@testable import HandoffService

/// The scheduler fires many onboardings' timers in one transaction (`Engine.performEach`).
@Suite("Timers fired in batches")
struct TimerBatchTests {
    struct Broken: Error {}

    /// Starts `count` tick onboardings (t0, t1, …) a second apart and moves the clock past their timers.
    static func started(_ count: Int) async throws -> (TestDatabase, Engine, URL) {
        let database = try await TestDatabase.make()
        let folder = try TickWorkflow.folder()
        let clock = TestClock()
        let engine = TimerTests.engine(database, clock, workflows: folder)
        for index in 0..<count {
            _ = try await engine.start(workflow: "tick", inputs: [:], id: "t\(index)", actor: "olivia")
            clock.advance(1)
        }
        clock.advance(3600)
        return (database, engine, folder)
    }

    static func timerId(_ engine: Engine, _ onboardingId: String) async throws -> String {
        try #require(try await engine.onboarding(onboardingId).timers.first).id
    }

    @Test func onePassFiresEachLanesOnboardingsInOneTransactionInDueOrder() async throws {
        let (database, engine, folder) = try await Self.started(8)
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(try await engine.fireDueTimers(limit: 100, concurrency: 2) == 8)
        let fired = try await database.column(
            "SELECT stream_id || ' ' || transaction_id FROM events WHERE type = 'TimerFired' ORDER BY position")
            .compactMap { $0?.split(separator: " ").map(String.init) }
        // Lane 0 took t0, t2, t4, t6 and lane 1 the others: two transactions, each in due order.
        let byTransaction = Dictionary(grouping: fired, by: { $0[1] }).mapValues { $0.map { $0[0] } }
        #expect(byTransaction.values.sorted { $0[0] < $1[0] } == [["t0", "t2", "t4", "t6"], ["t1", "t3", "t5", "t7"]])
        for index in 0..<8 {
            #expect(try await engine.onboarding("t\(index)").currentSteps == ["after"])
        }
        #expect(try await engine.verify().problems == [])
    }

    @Test func aRefusedOrRepeatedWriteInABatchLeavesTheOthersToCommit() async throws {
        let (database, engine, folder) = try await Self.started(4)
        defer { try? FileManager.default.removeItem(at: folder) }
        let t1Timer = try await Self.timerId(engine, "t1")
        let early = try await engine.fireTimer(onboardingId: "t1", timerId: t1Timer)
        let batch = [
            Engine.timerWrite(onboardingId: "t0", timerId: try await Self.timerId(engine, "t0")),
            // Fired already: its command id answers as the first fire did.
            Engine.timerWrite(onboardingId: "t1", timerId: t1Timer),
            Engine.timerWrite(onboardingId: "t2", timerId: "no-such-timer"),
            Engine.timerWrite(onboardingId: "t3", timerId: try await Self.timerId(engine, "t3")),
        ]
        let before = try await database.column("SELECT count(*) FROM events WHERE stream_id IN ('t1', 't2')")
        let results = await engine.performEach(kind: "timer", batch)
        #expect(results.count == 4)
        #expect((try? results[0].get())?.currentSteps == ["after"])
        #expect((try? results[1].get()) == early, "the repeat did not answer as the first fire")
        guard case .failure(let refused) = results[2] else {
            Issue.record("a timer that does not exist was fired")
            return
        }
        #expect(refused.code == .notFound)
        #expect((try? results[3].get())?.currentSteps == ["after"])
        #expect(try await database.column("SELECT count(*) FROM events WHERE stream_id IN ('t1', 't2')") == before)
        let transactions = try await database.column(
            "SELECT DISTINCT transaction_id FROM events WHERE type = 'TimerFired' AND stream_id IN ('t0', 't3')")
        #expect(transactions.count == 1, "the batch's fires were not one transaction")
        #expect(try await engine.verify().problems == [])
    }

    @Test func aBatchWhoseTransactionFailsRunsEachWriteOnItsOwn() async throws {
        let (database, engine, folder) = try await Self.started(3)
        defer { try? FileManager.default.removeItem(at: folder) }
        var writes: [Engine.StreamWrite<OnboardingView, TimerRequest>] = []
        for index in 0..<3 {
            writes.append(Engine.timerWrite(onboardingId: "t\(index)", timerId: try await Self.timerId(engine, "t\(index)")))
        }
        // Not a refused decision: the batch's transaction ends, and each write is tried alone.
        writes[1].body = { _ in throw Broken() }
        let results = await engine.performEach(kind: "timer", writes)
        #expect((try? results[0].get())?.currentSteps == ["after"])
        guard case .failure(let failed) = results[1] else {
            Issue.record("a write whose body throws succeeded")
            return
        }
        #expect(failed.code == .internal)
        #expect((try? results[2].get())?.currentSteps == ["after"])
        #expect(try await engine.onboarding("t1").currentSteps == ["wait-an-hour"])
        let transactions = try await database.column(
            "SELECT DISTINCT transaction_id FROM events WHERE type = 'TimerFired'")
        #expect(transactions.count == 2, "the fallback did not run each write in its own transaction")
        #expect(try await engine.verify().problems == [])
    }
}
