using System.Globalization;
using System.Text.Json;
using KpuEdge.Cloud.Ingest;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Security;
using KpuEdge.Core.Protocol;
using KpuEdge.Crypto.Transparency;
using Microsoft.AspNetCore.Mvc;

using static KpuEdge.Cloud.Api.ApiErrors;

namespace KpuEdge.Cloud.Api;

/// <summary>
/// The PKI's public material (CA certificates, the current revocation list, device signing certificates) and the
/// security event feed (for NSOC operators only). A verifier brings its own copy of KPU's root: what is served here
/// is only convenience.
/// </summary>
public static class TrustApi
{
    private static readonly JsonSerializerOptions Json = KpuJson.Wire;

    /// <summary>Largest revocation list accepted by PUT.</summary>
    public const int MaxCrlBytes = 4 * 1024 * 1024;

    public static void MapTrustApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/pki/ca", (CloudPki pki) =>
            Results.Text(pki.Trust.Root.ToPem() + string.Concat(pki.Trust.Issuing.Select(i => i.ToPem())), "application/x-pem-file"));
        app.MapGet("/api/v1/pki/crl", (CloudPki pki) =>
            pki.CurrentCrl is { } crl ? Results.Bytes(crl, "application/pkix-crl") : Error(404, "No revocation list has been installed."));
        // Anyone may deliver a newer CRL: only the issuing CA's signature makes it count. Kestrel cuts the body off at
        // MaxCrlBytes while reading (RequestBodyLimits answers 413), and the slots bound how many are read at once.
        app.MapPut("/api/v1/pki/crl", async (HttpContext context, RevocationService revocations, CrlUploadSlots slots) =>
        {
            // Given back when this returns, before the answer is written: whoever has the answer may upload again.
            using var slot = slots.TryTake();
            if (slot is null)
            {
                context.Response.Headers.RetryAfter = CrlUploadSlots.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
                return Error(503, $"Another revocation list is being received; try again in {CrlUploadSlots.RetryAfterSeconds} s.");
            }
            using var buffer = new MemoryStream();
            try
            {
                await context.Request.Body.CopyToAsync(buffer, slot.Deadline);
            }
            catch (OperationCanceledException) when (slot.Deadline.IsCancellationRequested)
            {
                return Error(408, "The revocation list did not arrive in time.");
            }
            try
            {
                var outcome = await revocations.InstallAsync(buffer.ToArray());
                return Results.Json(new
                {
                    added = outcome.Added.Select(a => new { serial = a.SerialHex, revoked_at = a.RevokedAt, reason = a.Reason.ToLogText() }),
                    logged = outcome.Logged.Select(r => new { device_id = r.DeviceId, serial = r.SerialHex, log_index = r.LogIndex }),
                }, Json);
            }
            catch (CrlRefusedException e)
            {
                return Error(422, e.Message);
            }
        }).WithMetadata(new RequestSizeLimitAttribute(MaxCrlBytes));
        app.MapGet("/api/v1/devices/{id}/certificate", async (string id, DeviceRegistryProvider devices) =>
            await devices.FindAsync(id) is { SigningCertificate: { } certificate }
                ? Results.Text(certificate.ToPem(), "application/x-pem-file")
                : Error(404, $"No device '{id}' with a signing certificate."));
        // Events name devices, certificate serials and topics: for the NSOC's operators, not the public.
        app.MapGet("/api/v1/security/events", async (IAuditTrail ledger, long? after, int? limit) =>
            Results.Json(new { events = await ledger.SecurityEventsAsync(after ?? 0, Math.Clamp(limit ?? 100, 1, 1000)) }, Json))
            .RequireOperator();
        app.MapGet("/api/v1/log/revocations", async (IAuditTrail ledger) =>
            Results.Json(new { revocations = (await ledger.RevocationsAsync()).Select(r => new
            {
                device_id = r.DeviceId, serial = r.SerialHex, revoked_at = r.RevokedAt, reason = r.Reason, log_index = r.LogIndex,
            }) }, Json));
    }
}
