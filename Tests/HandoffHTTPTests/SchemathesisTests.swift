import Foundation
import HandoffCore
import HandoffService
import HandoffTestSupport
import Postgres
import Testing

/// schemathesis (from the virtualenv `make test` creates) against the served OpenAPI document: every operation,
/// generated requests valid and invalid, no 5xx and no response that contradicts the document.
@Suite("The OpenAPI document against the server")
struct SchemathesisTests {
    static let executable = Repository.root.appendingPathComponent(".venv/bin/schemathesis")

    @Test func schemathesisFindsNoServerErrorAndNoAnswerTheDocumentDoesNotAllow() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.executable.path),
            "schemathesis is missing: run scripts/install-test-tools.sh (make test does)")
        let fixture = try await HTTPFixture.make()
        for index in 1...3 {
            try await fixture.start("st\(index)")
        }
        // One token with every role, so generated requests reach past authorisation.
        let token = try await fixture.engine.createToken(
            name: "schemathesis", roles: ["admin", "customer_admin", "partner_integration_manager", "solutions_engineer"]
        ).token
        let server = try await ServerProcess.start(databaseURL: fixture.database.connectionString)
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("schemathesis-\(UUID()).txt")
        let outcome = try await offload {
            try ChildProcess.runSeparately(
                "/usr/bin/env",
                [
                    "HYPOTHESIS_STORAGE_DIRECTORY=\(FileManager.default.temporaryDirectory.path)/hypothesis",
                    Self.executable.path, "run", Repository.root.appendingPathComponent("Sources/HandoffHTTP/openapi.json").path,
                    "--url", server.baseURL, "--header", "Authorization: Bearer \(token)",
                    "--checks", "all",
                    // A 422 for schema-valid data is the engine refusing what the schema can't express (inputs a
                    // workflow does not declare, a time before an onboarding began): documented, not a contradiction.
                    "--exclude-checks", "positive_data_acceptance",
                    "--max-examples", "15", "--max-time", "150", "--workers", "2", "--seed", "20261201",
                    "--request-timeout", "10", "--no-color",
                ])
        }
        try? outcome.stdout.write(to: report, atomically: true, encoding: .utf8)
        let status = try await server.terminate()
        #expect(status == 0, "serve stopped cleanly: \(server.stderr)")
        let summary = outcome.stdout.split(separator: "\n").suffix(40).joined(separator: "\n")
        #expect(outcome.status == 0, "schemathesis failed (full output in \(report.path)):\n\(summary)\n\(outcome.stderr)")
        let document = try Value(parsing: Data(contentsOf: Repository.root.appendingPathComponent("Sources/HandoffHTTP/openapi.json")))
        guard case .object(let root) = document, case .object(let paths)? = root["paths"] else {
            Issue.record("the document has no paths")
            return
        }
        let operations = paths.values.reduce(0) { count, item in
            guard case .object(let methods) = item else { return count }
            return count + methods.keys.filter { ["get", "post", "put", "patch", "delete"].contains($0) }.count
        }
        #expect(operations >= 28)
        #expect(outcome.stdout.contains("Tested: \(operations)"), "every one of \(operations) operations was tested:\n\(summary)")
        try await fixture.expectInvariants()
    }
}
