using System.Text.Json;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Transparency;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;

using static KpuEdge.Cloud.Api.ApiErrors;

namespace KpuEdge.Cloud.Api;

/// <summary>
/// The transparency log's public API (docs/verification.md): the latest signed checkpoint, inclusion proofs by
/// submission hash or by TPS and contest, consistency proofs between two sizes, and the entries themselves.
/// Nothing here needs to be trusted: every answer is checked against a checkpoint signed by the log key.
/// </summary>
public static class LogApi
{
    /// <summary>Most entries one request returns.</summary>
    public const int MaxEntriesPerRequest = 1000;

    private static readonly JsonSerializerOptions Json = KpuJson.Wire;

    public static void MapLogApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/log/checkpoint", async (TransparencyLog log, bool? fresh) =>
            Results.Text((fresh == true ? await log.PublishFreshAsync() : log.Latest).Note, "text/plain; charset=utf-8"));
        app.MapGet("/api/v1/log/key", (TransparencyLog log) => Results.Text(log.VerifierKey + "\n", "text/plain; charset=utf-8"));
        app.MapGet("/api/v1/log/proof/inclusion", Inclusion);
        app.MapGet("/api/v1/log/proof/consistency", (TransparencyLog log, long? from, long? to) =>
        {
            if (from is null || to is null) return Error(400, "Give from and to (tree sizes).");
            if (from < 1 || from > to || to > log.Size)
                return Error(400, $"No consistency proof from {from} to {to}: sizes must satisfy 1 ≤ from ≤ to ≤ {log.Size}.");
            var proof = log.ProveConsistency(from.Value, to.Value);
            return Results.Json(new { from, to, proof = proof.Select(Convert.ToBase64String) }, Json);
        });
        app.MapGet("/api/v1/log/entries", async (ILogStore ledger, TransparencyLog log, long? start, long? end) =>
        {
            long size = log.Size;
            if (start is null || start < 0 || start > size) return Error(400, $"Give start in [0, {size}].");
            long last = Math.Min(end ?? size, Math.Min(size, start.Value + MaxEntriesPerRequest));
            if (last < start) return Error(400, "end must not be before start.");
            var entries = new List<string>();
            await foreach (var entry in ledger.ReadLogAsync(start.Value, last)) entries.Add(Convert.ToBase64String(entry));
            return Results.Json(new { start, entries }, Json);
        });
    }

    private static async Task<IResult> Inclusion(IResultsLedger ledger, TransparencyLog log, string? hash, string? tps, string? contest, long? size)
    {
        long logIndex;
        Sha256Hash entryHash;
        if (hash is not null)
        {
            if (!Sha256Hash.TryParseHex(hash, out var h) || h.IsEmpty) return Error(400, $"'{hash}' is not a SHA-256 hash (64 hex digits).");
            // A TPS's form, or a PPK station's statement (verification, objection, correction, D.Hasil).
            if (await ledger.FindByHashAsync(h) is { } form) logIndex = form.LogIndex;
            else if (await ledger.FindStatementAsync(h) is { } statement) logIndex = statement.LogIndex;
            else return Error(404, $"No accepted submission or PPK statement has hash {hash}.");
            entryHash = h;
        }
        else if (tps is not null && contest is not null)
        {
            if (!TpsCode.TryParse(tps, out var code)) return Error(400, $"'{tps}' is not a TPS code (13 digits).");
            if (!Contests.TryParseSlug(contest, out var c)) return Error(400, $"Unknown contest '{contest}'.");
            // The device's version the recap counts: the highest device sequence, as in the results API.
            var entry = (await ledger.ForTpsAsync(code)).Where(e => e.Contest == c).OrderBy(e => e.Sequence).ThenBy(e => e.Position).LastOrDefault();
            if (entry is null) return Error(404, $"TPS {tps} has no accepted {contest} submission.");
            (logIndex, entryHash) = (entry.LogIndex, entry.Hash);
        }
        else
        {
            return Error(400, "Give hash, or tps and contest.");
        }

        var entryBytes = await ledger.ReadLogAsync(logIndex, logIndex + 1).SingleAsync();
        // Another node may have written it since this node's tree last looked.
        await log.CatchUpAsync(logIndex + 1);
        if (size is { } treeSize)
        {
            if (treeSize <= logIndex || treeSize > log.Size)
                return Error(400, $"Entry {logIndex} is not in a tree of {treeSize} (the log has {log.Size}).");
            var proof = log.ProveInclusionAt(logIndex, treeSize);
            return Results.Json(new
            {
                leaf_index = logIndex, tree_size = treeSize, proof = proof.Select(Convert.ToBase64String),
                entry = Convert.ToBase64String(entryBytes), submission_hash = entryHash.ToString(),
            }, Json);
        }
        var answer = log.ProveInclusion(logIndex, await log.CheckpointCoveringAsync(logIndex));
        return Results.Json(new
        {
            leaf_index = answer.LeafIndex, tree_size = answer.TreeSize, proof = answer.Proof.Select(Convert.ToBase64String),
            checkpoint = answer.Checkpoint.Note, entry = Convert.ToBase64String(entryBytes), submission_hash = entryHash.ToString(),
        }, Json);
    }
}
