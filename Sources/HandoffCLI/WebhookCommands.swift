import ArgumentParser
import Foundation
import HandoffService

/// `handoff webhooks add | list | remove`: who is told when work moves.
struct Webhooks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Subscribe URLs to notifications (signed webhooks), list and remove them.",
        subcommands: [Add.self, List.self, Remove.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Subscribe a URL; prints the subscription's id (and with --json its secret).",
            discussion: """
                `handoff serve` or `handoff worker` delivers each notification as a POST with a JSON body and the \
                Standard Webhooks headers webhook-id, webhook-timestamp and webhook-signature (v1, HMAC-SHA256 \
                under the secret). Narrow it with --workflow, --role and --event (each repeatable); with none, \
                every notification is sent. Events: \(NotificationKind.names.joined(separator: ", ")).
                """
        )
        @OptionGroup var output: OutputOptions

        @Option(help: "Where to POST (http or https).")
        var url: String

        @Option(help: "The signing secret, whsec_ and base64 (default: a new random one, printed).")
        var secret: String?

        @Option(help: "Only this workflow's onboardings (repeat for several).")
        var workflow: [String] = []

        @Option(help: "Only notifications for this role (repeat for several).")
        var role: [String] = []

        @Option(help: "Only this kind, such as task.opened (repeat for several).")
        var event: [String] = []

        func run() async throws {
            try await Output.run(output) {
                let added = try await CommandEngine.run { engine in
                    try await engine.addWebhook(url: url, secret: secret, workflows: workflow, roles: role, kinds: event)
                }
                try output.show(added) {
                    print(added.id)
                    if secret == nil, let made = added.secret {
                        FileHandle.standardError.write(Data("secret (shown once): \(made)\n".utf8))
                    }
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the subscriptions (never their secrets).")
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await Output.run(output) {
                let webhooks = try await CommandEngine.run { engine in try await engine.webhooks() }
                try output.show(["webhooks": webhooks]) {
                    guard !webhooks.isEmpty else {
                        print("No webhooks. Add one with: handoff webhooks add --url URL")
                        return
                    }
                    func narrow(_ values: [String]) -> String { values.isEmpty ? "all" : values.joined(separator: ",") }
                    Output.printTable(
                        ["ID", "URL", "WORKFLOWS", "ROLES", "EVENTS", "CREATED"],
                        webhooks.map {
                            [$0.id, $0.url, narrow($0.workflows), narrow($0.roles), narrow($0.events), Clock.text($0.createdAt)]
                        })
                }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a subscription; its notifications not yet delivered go with it.")
        @OptionGroup var output: OutputOptions

        @Argument(help: "The subscription's id (wh_…).")
        var id: String

        func run() async throws {
            try await Output.run(output) {
                try await CommandEngine.run { engine in try await engine.removeWebhook(id: id) }
                try output.show(["removed": id]) { print("Removed webhook \(id).") }
            }
        }
    }
}

/// `handoff notifications list | resend`: what was sent, what is waiting, and the dead letters.
struct Notifications: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List notifications and their delivery, and send dead-lettered ones again.",
        subcommands: [List.self, Resend.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Notifications in the order they were written.")
        @OptionGroup var output: OutputOptions

        @Flag(help: "Only dead-lettered ones (every attempt failed).")
        var failed = false

        @Option(help: "Only this onboarding's.")
        var onboarding: String?

        @Option(help: "At most this many (1 to 1000).")
        var limit = 100

        @Option(help: "The 'next' of an earlier page.")
        var after: String?

        func run() async throws {
            try await Output.run(output) {
                let page = try await CommandEngine.run { engine in
                    try await engine.notifications(failed: failed, onboardingId: onboarding, limit: limit, after: after)
                }
                try output.show(page.listing("notifications")) {
                    guard !page.items.isEmpty else {
                        print(failed ? "No dead-lettered notifications." : "No notifications.")
                        return
                    }
                    Output.printTable(
                        ["ID", "TYPE", "ONBOARDING", "TO", "STATE", "ATTEMPTS", "CREATED", "LAST ERROR"],
                        page.items.map {
                            [
                                $0.id, $0.type, $0.onboardingId, $0.subscriptionId ?? $0.endpoint ?? "-", $0.state,
                                String($0.attempts), Clock.text($0.createdAt), String(($0.lastError ?? "").prefix(60)),
                            ]
                        })
                    if let next = page.next { print("More: --after \(next)") }
                }
            }
        }
    }

    struct Resend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a dead-lettered notification again (same id, a fresh round of attempts).")
        @OptionGroup var output: OutputOptions

        @Argument(help: "The notification's id.")
        var id: String

        func run() async throws {
            try await Output.run(output) {
                let resent = try await CommandEngine.run { engine in try await engine.resendNotification(id) }
                try output.show(resent) { print("Notification \(resent.id) is queued again.") }
            }
        }
    }
}
