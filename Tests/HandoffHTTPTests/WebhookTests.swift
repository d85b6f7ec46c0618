import Foundation
import HandoffCore
@testable import HandoffHTTP
import HandoffService
import HandoffStore
import HandoffTestSupport
import Logging
import Postgres
import Testing

/// Fast retries, so a test sees every attempt within a second or two.
let quickDelivery = DeliverySettings(attempts: 4, retryDelay: 0.05, maximumDelay: 0.2, timeout: 2)

/// Runs a dispatcher for the engine while `body` runs.
func withDispatcher<T: Sendable>(
    _ engine: Engine, settings: DeliverySettings = quickDelivery, endpoints: Endpoints = Endpoints(),
    _ body: () async throws -> T
) async throws -> T {
    var logger = Logger(label: "test")
    logger.logLevel = .error
    let dispatcher = NotificationDispatcher(
        engine: engine, settings: settings, endpoints: endpoints, interval: .milliseconds(20), logger: logger)
    let running = Task { try await dispatcher.run() }
    defer { running.cancel() }
    let result = try await body()
    running.cancel()
    _ = await running.result
    return result
}

func notificationStates(_ database: TestDatabase) async throws -> [String?] {
    try await database.column("SELECT state || ':' || attempts FROM notifications ORDER BY seq")
}

@Suite("Webhooks: signed deliveries, retries and dead letters")
struct WebhookTests {
    @Test func aReceiverThatFailsThreeTimesGetsTheNotificationFourTimesWithOneIdAndAValidSignatureEachTime() async throws {
        let fixture = try await HTTPFixture.make()
        let receiver = try await Receiver.start(.init(failures: 3))
        let hook = try await fixture.engine.addWebhook(url: receiver.url, kinds: ["onboarding.started"])
        let secret = try #require(hook.secret)
        try await withDispatcher(fixture.engine) {
            try await fixture.start("w1")
            #expect(try await eventually(within: 30) { try await notificationStates(fixture.database) == ["delivered:4"] })
        }
        await receiver.stop()
        let received = receiver.received
        #expect(received.count == 4)
        #expect(Set(received.map(\.id)).count == 1 && received[0].id.hasPrefix("msg_"))
        #expect(received.allSatisfy { Receiver.verify($0, secret: secret) }, "a signature does not verify")
        #expect(!Receiver.verify(received[0], secret: WebhookSignature.makeSecret()), "any secret verifies")
        let body = received[0].json
        #expect(body["type"] == "onboarding.started" && body["onboardingId"] == "w1" && body["workflow"] == "mail-send")
        #expect(body["data"]?["inputs"]?["company"] == "Contoso")
    }

    @Test func aReceiverThatAlwaysFailsEndsDeadLetteredAndAResendDeliversItOnce() async throws {
        let fixture = try await HTTPFixture.make()
        let receiver = try await Receiver.start(.init(alwaysFail: true))
        _ = try await fixture.engine.addWebhook(url: receiver.url, kinds: ["onboarding.started"])
        try await withDispatcher(fixture.engine) {
            try await fixture.start("w2")
            #expect(try await eventually(within: 30) { try await notificationStates(fixture.database) == ["failed:4"] })
            let failed = try await fixture.engine.notifications(failed: true)
            #expect(failed.items.count == 1)
            let dead = try #require(failed.items.first)
            #expect(dead.lastStatus == 500 && dead.lastError?.contains("500") == true)
            #expect(receiver.received.count == 4)

            receiver.change { $0.alwaysFail = false }
            let resent = try await fixture.engine.resendNotification(dead.id)
            // Queued again with a fresh round of attempts (the running dispatcher may already be on it).
            #expect(resent.state != "failed" && resent.attempts <= 1, "\(resent)")
            #expect(try await eventually(within: 30) { try await notificationStates(fixture.database) == ["delivered:1"] })
            try await Task.sleep(for: .milliseconds(200))
            #expect(receiver.received.count == 5, "the re-send was not delivered exactly once")
            #expect(Set(receiver.received.map(\.id)) == [dead.id])
            // Only a dead letter is sent again.
            do throws(EngineError) {
                _ = try await fixture.engine.resendNotification(dead.id)
                Issue.record("a delivered notification was queued again")
            } catch {
                #expect(error.code == .invalidInput)
            }
        }
        await receiver.stop()
    }

    @Test func removingAWebhookDropsWhatWaitsForItAndKeepsWhatWasDelivered() async throws {
        let fixture = try await HTTPFixture.make()
        let receiver = try await Receiver.start(.init())
        let hook = try await fixture.engine.addWebhook(url: receiver.url, kinds: ["onboarding.started"])
        let other = try await fixture.engine.addWebhook(url: "http://127.0.0.1:9/other", kinds: ["onboarding.started"])
        try await withDispatcher(fixture.engine) {
            try await fixture.start("v1")
            #expect(try await eventually(within: 30) {
                try await fixture.database.column(
                    "SELECT state FROM notifications WHERE subscription_id = $1", [hook.id]) == ["delivered"]
            })
        }
        await receiver.stop()
        try await fixture.start("v2")
        _ = try await fixture.database.column(
            "UPDATE notifications SET state = 'failed' WHERE onboarding_id = 'v1' AND subscription_id = $1", [other.id])
        try await fixture.engine.removeWebhook(id: hook.id)
        try await fixture.engine.removeWebhook(id: other.id)
        // Delivered rows stay as the record of what was sent; the pending and the dead-lettered are gone.
        #expect(try await fixture.database.column("SELECT onboarding_id || ' ' || state FROM notifications ORDER BY seq")
            == ["v1 delivered"])
    }

    /// A notification written for a webhook in the instant it is removed finds no webhook: dead-lettered at once.
    @Test func aNotificationWhoseWebhookIsGoneIsDeadLetteredAtOnce() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.start("v3")
        _ = try await fixture.database.column(
            """
            INSERT INTO notifications (id, subscription_id, onboarding_id, kind, body)
            VALUES ('msg_orphan', 'wh_gone', 'v3', 'onboarding.started', '{}')
            """)
        try await withDispatcher(fixture.engine) { () async throws in
            #expect(try await eventually(within: 30) { try await notificationStates(fixture.database) == ["failed:1"] })
        }
        let dead = try #require(try await fixture.engine.notifications(failed: true).items.first)
        #expect(dead.id == "msg_orphan" && dead.lastError == "the webhook was removed", "\(dead)")
    }

    @Test func aCommandThatRollsBackLeavesNoNotification() async throws {
        let fixture = try await HTTPFixture.make()
        _ = try await fixture.engine.addWebhook(url: "http://127.0.0.1:9/hook")
        try await fixture.start("w3")
        let before = try await fixture.contents()
        #expect(try await fixture.database.column("SELECT count(*) FROM notifications") != ["0"])
        _ = try await fixture.engine.claim(taskId: "w3-t1", user: "alice", roles: ["customer_admin"])
        let claimed = try await fixture.contents()
        // Refused inside the write's transaction (the completion is decided there and rolls back).
        do {
            _ = try await fixture.engine.complete(taskId: "w3-t1", user: "alice", outputs: [:], checklist: [])
            Issue.record("an incomplete completion was taken")
        } catch {
            #expect(error.code == .invalidOutputs || error.code == .checklistIncomplete)
        }
        #expect(try await fixture.contents() == claimed)
        #expect(claimed != before)
    }

    @Test func everyNotificationOfAnOnboardingArrivesInOrder() async throws {
        let fixture = try await HTTPFixture.make()
        let receiver = try await Receiver.start(.init(failures: 2))
        _ = try await fixture.engine.addWebhook(url: receiver.url, workflows: ["mail-send"])
        try await withDispatcher(fixture.engine) {
            try await fixture.start("w4")
            _ = try await fixture.engine.claim(taskId: "w4-t1", user: "alice", roles: ["customer_admin"])
            _ = try await fixture.engine.release(taskId: "w4-t1", user: "alice")
            _ = try await fixture.engine.claim(taskId: "w4-t1", user: "alice", roles: ["customer_admin"])
            #expect(try await eventually(within: 30) {
                try await fixture.database.column("SELECT count(*) FROM notifications WHERE state <> 'delivered'") == ["0"]
            })
        }
        await receiver.stop()
        // Retries repeat an id; the first arrival of each id is in the stream's order.
        var seen: [String] = []
        var versions: [Int] = []
        for delivery in receiver.received where !seen.contains(delivery.id) {
            seen.append(delivery.id)
            if case .integer(let version)? = delivery.json["version"] { versions.append(version) }
        }
        #expect(versions == versions.sorted() && versions.count == 5, "\(versions)")
        #expect(seen.count == 5)
        let types = receiver.received.map { $0.json["type"]?.stringValue ?? "" }
        #expect(Set(types) == ["onboarding.started", "task.opened", "task.claimed", "task.released"])
    }

    @Test func twoDispatchersOnOneDatabaseDeliverEachNotificationOnce() async throws {
        let fixture = try await HTTPFixture.make()
        let receiver = try await Receiver.start(.init(delay: .milliseconds(5)))
        _ = try await fixture.engine.addWebhook(url: receiver.url, kinds: ["onboarding.started", "task.opened"])
        let second = ConnectionPool(ConnectionConfiguration(fixture.database.connectionString), maximumConnections: 4)
        defer { second.close() }
        let other = Engine(pool: second, workflows: WorkflowLibrary(folder: Repository.workflows))
        let count = 40
        // The attempt's timeout (and so the lease) of the default settings: a dispatcher slowed by a busy machine
        // still records its deliveries before the other may take them over.
        let settings = DeliverySettings(attempts: 4, retryDelay: 0.05, maximumDelay: 0.2, timeout: 10)
        try await withDispatcher(fixture.engine, settings: settings) {
            try await withDispatcher(other, settings: settings) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<count {
                        group.addTask { try await fixture.start("d\(index)") }
                    }
                    try await group.waitForAll()
                }
                #expect(try await eventually(within: 20) {
                    try await fixture.database.column("SELECT count(*) FROM notifications WHERE state = 'delivered'")
                        == ["\(2 * count)"]
                })
            }
        }
        await receiver.stop()
        let ids = receiver.received.map(\.id)
        #expect(ids.count == 2 * count && Set(ids).count == 2 * count, "\(ids.count) deliveries of \(Set(ids).count) ids")
        // Each onboarding's notifications arrived in its stream's order, whichever dispatcher sent them.
        var versions: [String: [Int]] = [:]
        for delivery in receiver.received {
            if let onboarding = delivery.json["onboardingId"]?.stringValue, case .integer(let version)? = delivery.json["version"] {
                versions[onboarding, default: []].append(version)
            }
        }
        #expect(versions.count == count && versions.values.allSatisfy { $0 == $0.sorted() && $0.count == 2 })
    }

    @Test func aWebhookNarrowedByRoleGetsOnlyThatRolesNotifications() async throws {
        let fixture = try await HTTPFixture.make()
        let receiver = try await Receiver.start()
        _ = try await fixture.engine.addWebhook(url: receiver.url, roles: ["partner_integration_manager"])
        try await withDispatcher(fixture.engine) {
            try await fixture.start("w5")
            for (task, outputs) in [
                ("w5-t1", ["client_id": Value.string("C-1")]), ("w5-t2", [:]), ("w5-t3", ["upn": "mailer@contoso.com"]),
            ] {
                let open = try await fixture.engine.task(task)
                _ = try await fixture.engine.claim(taskId: task, user: "alice", roles: ["customer_admin"])
                _ = try await fixture.engine.complete(
                    taskId: task, user: "alice", outputs: outputs, checklist: Set(open.checklist.map(\.id)))
            }
            #expect(try await eventually(within: 30) { receiver.received.count >= 2 })
        }
        await receiver.stop()
        let types = receiver.received.map { $0.json["type"]?.stringValue ?? "" }
        #expect(types == ["role.notified", "task.opened"], "\(types)")
        #expect(receiver.received.allSatisfy { $0.json["role"] == "partner_integration_manager" })
        #expect(receiver.received.first?.json["data"]?["message"]?.stringValue?.contains("Contoso") == true)
    }

    @Test(arguments: [
        ("ftp://example.com/hook", [String](), [String](), [String](), "http or https"),
        ("not a url", [], [], [], "http or https"),
        ("http://example.com/hook", ["mail-sned"], [], [], "no workflow 'mail-sned'"),
        ("http://example.com/hook", [], ["partner_manager"], [], "no workflow has role 'partner_manager'"),
        ("http://example.com/hook", [], [], ["task.done"], "no notification kind 'task.done'"),
    ])
    func aBadSubscriptionIsRefusedWithItsReasonAndChangesNothing(
        url: String, workflows: [String], roles: [String], kinds: [String], message: String
    ) async throws {
        let fixture = try await HTTPFixture.make()
        let before = try await fixture.contents()
        do {
            _ = try await fixture.engine.addWebhook(url: url, workflows: workflows, roles: roles, kinds: kinds)
            Issue.record("the subscription was taken")
        } catch {
            #expect(error.code == .invalidInput)
            #expect(error.message.contains(message), "\(error.message)")
        }
        do {
            _ = try await fixture.engine.addWebhook(url: "http://example.com/hook", secret: "whsec_short")
            Issue.record("a short secret was taken")
        } catch {
            #expect(error.message.contains("whsec_"))
        }
        #expect(try await fixture.contents() == before)
    }
}

@Suite("Webhooks over HTTP")
struct WebhookRouteTests {
    @Test func theAdminManagesWebhooksAndOthersAreRefusedAndNothingChanges() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.withServer { api in
            let before = try await fixture.contents()
            let refused = try await api.post("/webhooks", as: "alice", body: #"{"url":"http://127.0.0.1:9/hook"}"#)
            #expect(refused.status == 403 && refused["code"] == "forbidden_role", "\(refused.text)")
            let bad = try await api.post("/webhooks", as: "olivia", body: #"{"url":"http://127.0.0.1:9/hook","roles":["nobody"]}"#)
            #expect(bad.status == 422 && bad.text.contains("nobody"), "\(bad.text)")
            let malformed = try await api.post("/webhooks", as: "olivia", body: #"{"link":"x"}"#)
            #expect(malformed.status == 422 || malformed.status == 400, "\(malformed.text)")
            #expect(try await api.get("/notifications", as: "pat").status == 403)
            #expect(try await fixture.contents() == before)

            let added = try await api.post(
                "/webhooks", as: "olivia", body: #"{"url":"http://127.0.0.1:9/hook","events":["task.opened"]}"#)
            #expect(added.status == 201, "\(added.text)")
            let id = try #require(added["id"]?.stringValue)
            #expect(added["secret"]?.stringValue?.hasPrefix("whsec_") == true)
            let listed = try await api.get("/webhooks", as: "olivia")
            #expect(listed.text.contains(id) && !listed.text.contains("whsec_"), "a listing shows a secret")
            try await fixture.start("r1")
            let notifications = try await api.get("/notifications?onboarding=r1", as: "olivia")
            #expect(notifications["notifications"]?.items.first?["type"] == "task.opened", "\(notifications.text)")
            let failedOnly = try await api.get("/notifications?failed=true", as: "olivia")
            #expect(failedOnly["notifications"] == .list([]))
            #expect(try await api.get("/notifications?failed=maybe", as: "olivia").status == 422)
            let missing = try await api.post("/notifications/msg_nope/resend", as: "olivia")
            #expect(missing.status == 404)
            let removed = try await api.send(.delete, "/webhooks/\(id)", as: "olivia", bytes: [])
            #expect(removed.status == 200, "\(removed.text)")
            #expect(try await api.send(.delete, "/webhooks/\(id)", as: "olivia", bytes: []).status == 404)
        }
    }
}

@Suite("Automated steps")
struct AutomatedStepTests {
    static let inputs: [String: Value] = ["company": "Contoso", "client_id": "C-1001", "upn": "mailer@contoso.com"]

    static func endpoints(_ url: String) -> Endpoints {
        Endpoints(["pia-portal": .init(url: url, secret: WebhookSignature.makeSecret())])
    }

    @Test func theAnswerBecomesTheStepsOutputsAndFeedsLaterDefaults() async throws {
        let fixture = try await HTTPFixture.make()
        let receiver = try await Receiver.start(
            .init(failures: 1, answer: #"{"configuration_id":"cfg-7","tenant_url":"https://contoso.pia.example"}"#))
        let endpoints = Self.endpoints(receiver.url)
        try await withDispatcher(fixture.engine, endpoints: endpoints) {
            _ = try await fixture.engine.start(workflow: "portal-configuration", inputs: Self.inputs, id: "a1", actor: "olivia")
            #expect(try await eventually(within: 30) { try await fixture.engine.onboarding("a1").currentSteps == ["confirm"] })
        }
        await receiver.stop()
        let confirm = try await fixture.engine.task("a1-t1")
        #expect(confirm.outputs.first?.default == "cfg-7")
        #expect(confirm.instructions.contains("https://contoso.pia.example"))
        // Two attempts, one id: the call's, the same the stream records.
        #expect(receiver.received.count == 2 && Set(receiver.received.map(\.id)) == ["a1-call1"])
        let secret = try #require(endpoints.byName["pia-portal"]?.secret)
        #expect(receiver.received.allSatisfy { Receiver.verify($0, secret: secret) })
        #expect(receiver.received[0].json["data"]?["Mail_Send_UPN"] == "mailer@contoso.com")
        let types = try await fixture.engine.history("a1").map(\.type)
        #expect(types.contains("CallRequested") && types.contains("CallAnswered") && !types.contains("CallFailed"))
        try await fixture.expectInvariants()
    }

    @Test func aMalformedAnswerIsRefusedWithTheReasonAndTheFailureBranchRunsAfterTheLastAttempt() async throws {
        let fixture = try await HTTPFixture.make()
        let receiver = try await Receiver.start(.init(answer: #"{"configuration_id":"cfg-7","tenant_url":"not a url"}"#))
        try await withDispatcher(fixture.engine, endpoints: Self.endpoints(receiver.url)) {
            _ = try await fixture.engine.start(workflow: "portal-configuration", inputs: Self.inputs, id: "a2", actor: "olivia")
            #expect(try await eventually(within: 30) {
                try await fixture.engine.onboarding("a2").currentSteps == ["configure-by-hand"]
            })
        }
        await receiver.stop()
        #expect(receiver.received.count == quickDelivery.attempts)
        let failed = try #require(try await fixture.engine.history("a2").first { $0.type == "CallFailed" })
        #expect(failed.data["reason"]?.stringValue?.contains("tenant_url: must be an http or https URL") == true, "\(failed.data)")
        let notification = try #require(try await fixture.engine.notifications(onboardingId: "a2").items.first)
        #expect(notification.state == "failed" && notification.lastError?.contains("tenant_url") == true)
        #expect(!(try await fixture.engine.history("a2").contains { $0.type == "CallAnswered" }))
        try await fixture.expectInvariants()
    }

    @Test func anEndpointDownUntilAfterTheRetriesFollowsTheFailureBranch() async throws {
        let fixture = try await HTTPFixture.make()
        // Nothing listens on the discard port.
        try await withDispatcher(fixture.engine, endpoints: Self.endpoints("http://127.0.0.1:9/portal")) {
            _ = try await fixture.engine.start(workflow: "portal-configuration", inputs: Self.inputs, id: "a3", actor: "olivia")
            #expect(try await eventually(within: 30) {
                try await fixture.engine.onboarding("a3").currentSteps == ["configure-by-hand"]
            })
        }
        let failed = try #require(try await fixture.engine.history("a3").first { $0.type == "CallFailed" })
        #expect(failed.data["attempts"] == .integer(quickDelivery.attempts))
        #expect(try await fixture.engine.task("a3-t1").title == "Set Contoso's Mail.Send variables by hand")
        try await fixture.expectInvariants()
    }

    @Test func withoutAFailureBranchTheOnboardingFailsWithTheReason() async throws {
        let fixture = try await HTTPFixture.make()
        // An endpoint no configuration names: every attempt fails with that reason.
        try await withDispatcher(fixture.engine, endpoints: Endpoints()) {
            _ = try await fixture.engine.start(workflow: "portal-configuration", inputs: Self.inputs, id: "a4", actor: "olivia")
            #expect(try await eventually(within: 30) {
                try await fixture.engine.history("a4").contains { $0.type == "CallFailed" }
            })
        }
        let failed = try #require(try await fixture.engine.history("a4").first { $0.type == "CallFailed" })
        #expect(failed.data["reason"]?.stringValue?.contains("no endpoint 'pia-portal' is configured") == true)
    }
}

@Suite("Dispatchers in several processes", .serialized)
struct DispatcherProcessTests {
    static func worker(_ database: TestDatabase, folder: URL, name: String) throws -> Int32 {
        try HandoffProcess.startWorker(database, folder: folder, name: name, extra: [
            "LOG_LEVEL": "error",
            // An attempt's timeout far above the receiver's delay, so that a loaded machine's slow answers are not
            // taken for failures (and repeated) while the test watches for the kill's repeats only.
            "HANDOFF_DELIVERY_TIMEOUT_SECONDS": "5", "HANDOFF_DELIVERY_RETRY_SECONDS": "0.05",
        ])
    }

    /// A worker killed with SIGKILL while deliveries are in flight, then another started: every notification is
    /// delivered, and an id arrives more than once only when its first delivery was cut off.
    @Test func aDispatcherKilledMidDeliveryLosesNothingAndARestartDeliversTheRest() async throws {
        let fixture = try await HTTPFixture.make()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dispatch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        // Slow answers, so deliveries are in flight when the worker dies.
        let receiver = try await Receiver.start(.init(delay: .milliseconds(150)))
        _ = try await fixture.engine.addWebhook(url: receiver.url, kinds: ["onboarding.started", "task.opened"])
        let count = 30
        for index in 0..<count { try await fixture.start("k\(index)") }
        var workers: [Int32] = []
        defer { for pid in workers { kill(pid, SIGKILL) } }
        let first = try Self.worker(fixture.database, folder: folder, name: "first")
        workers.append(first)
        #expect(try await eventually(within: 30) { receiver.received.count >= 5 })
        kill(first, SIGKILL)
        _ = try await offload { try ChildProcess.waitForExit(first) }
        workers.removeAll()
        let delivered = try await fixture.database.column("SELECT count(*) FROM notifications WHERE state = 'delivered'")
        #expect(delivered != ["\(2 * count)"], "everything was delivered before the kill")

        let second = try Self.worker(fixture.database, folder: folder, name: "second")
        workers.append(second)
        // The killed worker's leases run out first: a line's n-th row after n times (timeout + 5 s).
        let all = try await eventually(within: 90) {
            try await fixture.database.column("SELECT count(*) FROM notifications WHERE state = 'delivered'")
                == ["\(2 * count)"]
        }
        let undelivered = try await fixture.database.column(
            "SELECT id || ' ' || state || ' attempts ' || attempts || ' ' || coalesce(last_error, '') FROM notifications WHERE state <> 'delivered'")
        #expect(all, "not every notification was delivered after the restart: \(undelivered)")
        kill(second, SIGTERM)
        let status = try await offload { try ChildProcess.waitForExit(second) }
        workers.removeAll()
        #expect(status == 0, "the second worker did not stop cleanly")
        await receiver.stop()
        let ids = try await fixture.database.column("SELECT id FROM notifications ORDER BY seq").compactMap { $0 }
        let received = receiver.received.map(\.id)
        #expect(Set(received) == Set(ids), "some notification never arrived")
        // Repeats only for the deliveries the kill cut off (at most the dispatcher's in-flight batch).
        #expect(received.count - ids.count <= 64, "\(received.count - ids.count) repeats")
    }
}
