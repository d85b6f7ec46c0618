import Foundation
import HTTPTypes
import HandoffCore
import HandoffService
import Hummingbird

/// An `EngineError` rendered as an RFC 9457 problem document: `type`, `title`, `status`, `detail`, and `code` (the
/// CLI's error code), with `problems` naming every bad field where there are some.
struct Problem: HTTPResponseError {
    let error: EngineError

    var status: HTTPResponse.Status { HTTPResponse.Status(code: error.code.status) }

    /// The document's members, in the order RFC 9457 lists them.
    struct Document: Encodable {
        var type: String
        var title: String
        var status: Int
        var detail: String
        var code: String
        var problems: [FieldProblem]?
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let document = Document(
            type: "urn:handoff:error:\(error.code.rawValue)", title: error.code.title, status: error.code.status,
            detail: error.message, code: error.code.rawValue, problems: error.problems.isEmpty ? nil : error.problems)
        var headers: HTTPFields = [.contentType: "application/problem+json"]
        if error.code == .unauthorized {
            headers[.wwwAuthenticate] = "Bearer realm=\"handoff\""
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: try JSONBody.buffer(document)))
    }
}

/// The outermost middleware: every failure leaves as a problem document, whichever layer threw it (the engine, the
/// router's 404 and 405, the body limit's 413), and unexpected errors are logged and answered with 500.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let methods: MethodTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            if problem.error.code == .internal {
                context.logger.error("internal error", metadata: ["error": "\(problem.error.message)"])
            }
            return try problem.response(from: request, context: context)
        } catch let error as EngineError {
            return try Problem(error: error).response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            let engineError: EngineError
            switch error.status.code {
            case 404:
                if let allowed = methods.allowed(on: request.uri.path) {
                    var response = try Problem(
                        error: EngineError(
                            .methodNotAllowed,
                            "\(request.method) is not allowed on \(request.uri.path); it takes "
                                + allowed.joined(separator: ", "))
                    ).response(from: request, context: context)
                    response.headers[.allow] = allowed.joined(separator: ", ")
                    return response
                }
                engineError = EngineError(.notFound, "no route \(request.method) \(request.uri.path)")
            case 405:
                engineError = EngineError(.methodNotAllowed, "\(request.method) is not allowed on \(request.uri.path)")
            case 413:
                engineError = EngineError(.payloadTooLarge, "the request body is larger than the server accepts")
            case 400..<500:
                engineError = EngineError(.invalidInput, "the request is not valid (\(error.status))")
            default:
                context.logger.error("request failed", metadata: ["error": "\(error)"])
                engineError = EngineError(.internal, "the request failed (\(error.status))")
            }
            return try Problem(error: engineError).response(from: request, context: context)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            return try Problem(error: EngineError.from(error)).response(from: request, context: context)
        }
    }
}
