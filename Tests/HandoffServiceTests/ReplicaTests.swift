import Foundation
import HandoffCore
import HandoffService
import HandoffStore
import HandoffTestSupport
import Postgres
import Testing

@Suite("Reads from a streaming replica", .serialized)
struct ReplicaTests {
    @Test func viewsReadTheReplicaAndAWriterAlwaysReadsItsOwnWrites() async throws {
        // A primary and a streaming replica of it (pg_basebackup -R), each a throwaway cluster of its own.
        let (primary, primaryURL) = try TestServer.privateCluster()
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("handoff-replica-\(UUID().uuidString)")
        let standby = LocalCluster(home: home, durable: false)
        let settings = EngineSettings(
            database: DatabaseSettings(
                databaseURL: primaryURL, home: URL(fileURLWithPath: "/nonexistent"), migrations: Repository.migrations),
            workflows: Repository.workflows, maximumConnections: 4)
        // Migrated on the primary before the copy, so the replica starts with the schema.
        let writer = try await Engine.open(settings)
        defer { writer.close() }
        let replicaURL = try standby.startStandby(of: primary)
        try standby.removeWhenProcessExits(getpid(), home: home)
        var readerSettings = settings
        readerSettings.readURL = replicaURL
        let reader = try await Engine.open(readerSettings)
        defer { reader.close() }
        let replica = try Connection(ConnectionConfiguration(replicaURL))
        #expect(try await replica.query("SELECT pg_is_in_recovery()").rows[0].bool(0))

        // Another process's write reaches the replica's readers once replayed.
        _ = try await writer.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "first", actor: "olivia")
        #expect(try await eventually(within: 30) { (try? await reader.onboarding("first")) != nil })

        // With replay paused, the reader's views come from the replica: another process's write is not there yet.
        try replica.execute("SELECT pg_wal_replay_pause()")
        _ = try await writer.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "second", actor: "olivia")
        await #expect(throws: EngineError.self) { _ = try await reader.onboarding("second") }
        #expect(try await reader.onboardings(OnboardingQuery(), limit: 10, after: nil).items.map(\.id) == ["first"])
        let lagging = try #require(try await reader.replicaStatus())
        #expect(lagging.lagBytes > 0, "\(lagging)")

        // Its own write it always reads back: the replica is waited for, then passed over while it stays behind.
        _ = try await reader.start(
            workflow: "mail-send", inputs: ["company": "Fabrikam", "path": "standard"], id: "own", actor: "olivia")
        #expect(try await reader.onboarding("own").inputs["company"] == "Fabrikam")
        #expect(try await reader.history("own").first?.type == "OnboardingStarted")
        _ = try await reader.claim(taskId: "own-t1", user: "alice", roles: ["customer_admin"])
        #expect(try await reader.task("own-t1").state == "claimed")

        // Replay resumes: the replica catches up, its lag goes to zero, and the reader's own writes come from it.
        try replica.execute("SELECT pg_wal_replay_resume()")
        #expect(try await eventually(within: 30) { (try? await reader.onboarding("second")) != nil })
        #expect(try await eventually(within: 30) { try await reader.replicaStatus()?.lagBytes == 0 })
        for index in 0..<20 {
            let id = "burst\(index)"
            _ = try await reader.start(
                workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: id, actor: "olivia")
            #expect(try await reader.onboarding(id).id == id)
            _ = try await reader.claim(taskId: "\(id)-t1", user: "alice", roles: ["customer_admin"])
            #expect(try await reader.tasks(TaskQuery(onboardingId: id), limit: 5, after: nil).items.first?.state == "claimed")
        }
        // Without a replica there is no replica status.
        #expect(try await writer.replicaStatus() == nil)
        // A read URL that is no replica is refused by its first read, which the primary then serves.
        var wrong = settings
        wrong.readURL = primaryURL
        let confused = try await Engine.open(wrong)
        defer { confused.close() }
        await #expect(throws: EngineError.self) { _ = try await confused.replicaStatus() }
        try standby.stop()
    }
}
