import Foundation
#if canImport(Glibc)
import Glibc
#endif
import HandoffTestSupport
import Postgres
import Testing

/// The `handoff` executable as users script it: output, error lines, exit statuses.
@Suite struct DatabaseCommandTests {
    @Test func migrateAppliesNothingTwiceAndStatusListsEveryMigration() async throws {
        let database = try await TestDatabase.make(migrated: false)
        let environment = ["DATABASE_URL": database.connectionString]
        let first = try await HandoffProcess.run(["db", "migrate", "--json"], environment: environment)
        #expect(first.status == 0, "\(first.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any]
        #expect((report?["applied"] as? [Int])?.isEmpty == false)

        let second = try await HandoffProcess.run(["db", "migrate"], environment: environment)
        #expect(second.status == 0)
        #expect(second.stdout == "Nothing to apply: every migration is applied.\n")

        let status = try await HandoffProcess.run(["db", "status"], environment: environment)
        #expect(status.status == 0)
        #expect(status.stdout.hasPrefix("VERSION  NAME"))
        #expect(status.stdout.contains("1        event_store"))
        #expect(!status.stdout.contains("pending"))

        // Regression: `db status --json` said no migration was applied.
        let statusJSON = try await HandoffProcess.run(["db", "status", "--json"], environment: environment)
        let listed = try JSONSerialization.jsonObject(with: Data(statusJSON.stdout.utf8)) as? [String: Any]
        let migrations = try FileManager.default.contentsOfDirectory(atPath: Repository.migrations.path)
            .filter { $0.hasSuffix(".sql") }
        #expect((listed?["applied"] as? [Int]) == Array(1...migrations.count))
    }

    /// Regression: a HANDOFF_HOME made by `mktemp -d` (mode 0700) failed with initdb's own confusing error when
    /// run as root, since the `postgres` account that runs the server can't enter it. The error names the cause.
    @Test func aHomeThePostgresAccountCannotEnterIsNamedAsTheCause() async throws {
        var template = Array((NSTemporaryDirectory() + "handoff-home-XXXXXX").utf8CString)
        let made = try #require(mkdtemp(&template))
        let home = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: home) }
        let environment = ["HANDOFF_HOME": home, "DATABASE_URL": ""]
        let outcome = try await HandoffProcess.run(["status"], environment: environment)
        guard geteuid() == 0 else {
            // As any other user the folder is the server's own, and the cluster starts in it.
            #expect(outcome.status == 0, "\(outcome.stderr)")
            _ = try await HandoffProcess.run(["dev", "stop"], environment: environment)
            return
        }
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("the postgres account cannot reach \(home)/postgres; set HANDOFF_HOME to a folder"),
                "\(outcome.stderr)")
    }

    @Test func aServerThatIsNotThereIsDatabaseUnavailableOnStderr() async throws {
        let port = try LocalCluster.freeLoopbackPort()
        let environment = ["DATABASE_URL": "host=127.0.0.1 port=\(port) dbname=handoff connect_timeout=2"]
        let plain = try await HandoffProcess.run(["db", "migrate"], environment: environment)
        #expect(plain.status == 1)
        #expect(plain.stdout.isEmpty)
        #expect(plain.stderr.hasPrefix("error: database_unavailable: "), "\(plain.stderr)")
        #expect(plain.stderr.hasSuffix("\n") && plain.stderr.split(separator: "\n").count == 1)

        let json = try await HandoffProcess.run(["db", "status", "--json"], environment: environment)
        #expect(json.status == 1)
        let error = try JSONSerialization.jsonObject(with: Data(json.stderr.utf8)) as? [String: [String: String]]
        #expect(error?["error"]?["code"] == "database_unavailable")
        #expect(error?["error"]?["message"]?.isEmpty == false)
    }

    @Test func devStatusReportsAClusterThatWasNeverStarted() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("handoff-home-\(UUID())")
        defer { try? FileManager.default.removeItem(at: home) }
        let outcome = try await HandoffProcess.run(
            ["dev", "status", "--json"], environment: ["HANDOFF_HOME": home.path, "DATABASE_URL": ""]
        )
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
        #expect(report?["state"] as? String == "not_initialised")
        #expect(!FileManager.default.fileExists(atPath: home.appendingPathComponent("postgres/data").path))
    }

    @Test func badBenchFlagsAreInvalidInput() async throws {
        for arguments in [["bench", "--duration", "0"], ["bench", "--clients", "1,x"], ["bench", "--rounds", "0"]] {
            let outcome = try await HandoffProcess.run(arguments, environment: ["DATABASE_URL": "host=127.0.0.1 port=1"])
            #expect(outcome.status == 1, "\(arguments)")
            #expect(outcome.stderr.hasPrefix("error: invalid_input: --"), "\(arguments): \(outcome.stderr)")
        }
    }
}

@Suite struct WorkflowCommandTests {
    @Test func validatePassesOnTheShippedWorkflows() async throws {
        let outcome = try await HandoffProcess.run(["workflows", "validate"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
    }

    @Test func validateReportsABrokenFileWithItsLineAndExitsNonZero() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("workflows-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("broken.yaml")
        try """
            id: broken
            title: Broken
            version: 1
            roles: [admin]
            steps:
              - id: only
                task:
                  role: nobody
                  title: Do it
                next: nowhere
            """.write(to: file, atomically: true, encoding: .utf8)
        let outcome = try await HandoffProcess.run(["workflows", "validate", file.path])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("broken.yaml:8:13: step 'only' has unknown role 'nobody'"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("broken.yaml:10:11: step 'only' refers to unknown step 'nowhere'"))
        #expect((outcome.stdout + outcome.stderr).contains("nobody"))
        #expect((outcome.stdout + outcome.stderr).contains("nowhere"))
        #expect(outcome.stderr.contains("error: invalid_workflow"))
    }

    @Test func anUnknownWorkflowIsNotFound() async throws {
        let outcome = try await HandoffProcess.run(["workflows", "show", "no-such-flow"])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.hasPrefix("error: not_found: "))
    }

    /// Regression: `workflows validate DIR` read the folder as a file and refused it.
    @Test func validateOfAFolderValidatesItsFiles() async throws {
        let outcome = try await HandoffProcess.run(["workflows", "validate", Repository.workflows.path])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("mail-send.yaml: mail-send v1"))
        #expect(outcome.stdout.contains("partner-go-live.yaml: partner-go-live v1"))
    }

    /// Regression: step ids that differ only in `-` and `_` were drawn as one node.
    @Test func stepIdsThatDifferOnlyInDashAndUnderscoreAreTwoNodes() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("graph-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = """
            id: twins
            title: Twins
            version: 1
            roles: [a]
            start: a-b
            steps:
              - id: a-b
                task: { role: a, title: One }
              - id: a_b
                task: { role: a, title: Two }
              - id: done
                end: { status: completed }
            """
        try source.write(to: folder.appendingPathComponent("twins.yaml"), atomically: true, encoding: .utf8)
        let outcome = try await HandoffProcess.run(
            ["workflows", "graph", "twins", "--format", "dot"], environment: ["HANDOFF_WORKFLOWS": folder.path])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("n_a_2d_b ["), "\(outcome.stdout)")
        #expect(outcome.stdout.contains("n_a__b ["))
        #expect(outcome.stdout.contains("n_a_2d_b -> n_a__b"))
    }

    @Test func aMistypedCommandSuggestsTheRightOne() async throws {
        let root = try await HandoffProcess.run(["stauts"])
        #expect(root.status == 64)
        #expect(root.stderr == "error: invalid_input: unknown command 'stauts'; did you mean 'status'?\n")
        let nested = try await HandoffProcess.run(["tokens", "lsit", "--json"])
        let document = try JSONSerialization.jsonObject(with: Data(nested.stderr.utf8)) as? [String: [String: String]]
        #expect(document?["error"]?["message"] == "unknown command 'lsit'; did you mean 'list'?")
        // A word that is nothing like a command, or an argument where one belongs, is left to the parser.
        #expect(try await HandoffProcess.run(["zzzzzzzz"]).stderr.hasPrefix("Error: Unexpected argument 'zzzzzzzz'"))
    }

    @Test func graphDrawsBothSeedPaths() async throws {
        let outcome = try await HandoffProcess.run(["workflows", "graph", "mail-send", "--format", "mermaid"])
        #expect(outcome.status == 0)
        #expect(outcome.stdout.hasPrefix("flowchart"))
        #expect(outcome.stdout.contains("standard"))
        #expect(outcome.stdout.contains("global-admin-consent"))
    }
}

/// `handoff --help` and each command's help, against the README's command list.
@Suite struct HelpTests {
    /// The README's command block: each `handoff NAME …` line by its command name.
    static func readmeCommands() throws -> [String: [String]] {
        let readme = try String(contentsOf: Repository.root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.components(separatedBy: "## Commands").dropFirst().first)
        let block = try #require(section.components(separatedBy: "```").dropFirst().first)
        var lines: [String: [String]] = [:]
        for line in block.split(separator: "\n") where line.hasPrefix("handoff ") {
            let words = line.split(separator: " ")
            lines[String(words[1]), default: []].append(String(line))
        }
        return lines
    }

    static func flags(in text: String) -> Set<String> {
        Set(text.matches(of: #/--[a-z][a-z-]*/#).map { String($0.output) })
    }

    @Test func theHelpListsEveryCommandTheReadmeDoesAndNoOther() async throws {
        let help = try await HandoffProcess.run(["--help"], environment: [:])
        #expect(help.status == 0)
        #expect(help.stdout.hasPrefix("OVERVIEW: An event-sourced workflow engine"))
        let listed = try #require(help.stdout.components(separatedBy: "SUBCOMMANDS:").last)
        let commands = Set(
            listed.split(separator: "\n").compactMap { line -> String? in
                guard line.hasPrefix("  "), !line.hasPrefix("   "), let word = line.split(separator: " ").first,
                      word.first?.isLowercase == true else { return nil }
                return String(word)
            })
        #expect(commands.isSuperset(of: ["start", "status", "tasks", "claim", "complete", "serve", "apply"]))
        let readme = try Self.readmeCommands()
        #expect(Set(readme.keys) == commands.union(["--version"]), "README: \(readme.keys.sorted()); help: \(commands.sorted())")
    }

    /// Each command's own help names every flag its README line shows, and the README shows every flag the help
    /// has (beyond `--json`, `--command-id` and the help itself, which the README describes once for all).
    @Test(arguments: ["start", "status", "tasks", "claim", "release", "complete", "signal", "cancel", "history", "replay", "apply", "serve", "bench", "demo"])
    func aCommandsHelpShowsItsUsageAndTheFlagsTheReadmeNames(command: String) async throws {
        let help = try await HandoffProcess.run(["help", command], environment: [:])
        #expect(help.status == 0, "\(help.stderr)")
        #expect(help.stdout.contains("USAGE: handoff \(command)"), "\(help.stdout)")
        #expect(help.stdout.contains("OVERVIEW: "))
        let readme = try #require(try Self.readmeCommands()[command], "the README shows no `handoff \(command)` line")
        let shown = Self.flags(in: readme.joined(separator: " "))
        let usage = try #require(help.stdout.split(separator: "\n").first { $0.hasPrefix("USAGE: ") })
        let offered = Self.flags(in: String(usage)).subtracting(["--json", "--command-id"])
        #expect(shown.subtracting(offered).isEmpty, "README shows \(shown.subtracting(offered).sorted()), which `handoff help \(command)` lacks")
        #expect(offered.subtracting(shown).isEmpty, "`handoff help \(command)` has \(offered.subtracting(shown).sorted()), which the README's line lacks")
    }
}
