import ArgumentParser

/// The `handoff` command: every subcommand parses its arguments, calls the store or the core, and renders.
@main
struct Handoff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "handoff",
        abstract: "An event-sourced workflow engine for onboardings, on PostgreSQL.",
        subcommands: [
            Database.self,
            Dev.self,
            Workflows.self,
            Demo.self,
            Start.self,
            Status.self,
            Tasks.self,
            Claim.self,
            Release.self,
            Complete.self,
            Signal.self,
            Cancel.self,
            History.self,
            Replay.self,
            ProjectionsCommand.self,
            Verify.self,
            Apply.self,
            Serve.self,
            Tokens.self,
            BenchCommand.self,
        ]
    )
}
