using System.Net;
using System.Security.Cryptography;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Transparency;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KpuEdge.Verify.Tests;

/// <summary>
/// A small transparency log behind the public API of docs/verification.md, on real Kestrel (127.0.0.1, a free
/// port): a <see cref="MerkleTree"/> of the appended entries, checkpoints signed by a <see cref="CheckpointSigner"/>.
/// Its knobs make it misbehave the ways a dishonest or broken log could, so the verifier has something to catch.
/// </summary>
internal sealed class TestLog : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Lock _lock = new();

    private TestLog(WebApplication app, CheckpointSigner signer)
    {
        _app = app;
        Signer = signer;
    }

    public CheckpointSigner Signer { get; set; }
    /// <summary>The tree of what was appended: what checkpoints sign.</summary>
    public MerkleTree Tree { get; private set; } = new();
    /// <summary>The stored entries the API serves: a test may alter them behind the tree's back.</summary>
    public List<byte[]> Stored { get; } = [];
    public Dictionary<string, string> DeviceCertificates { get; } = new(StringComparer.Ordinal);
    public byte[]? Crl { get; set; }
    public Uri Url { get; private set; } = null!;

    /// <summary>Flips a bit of every inclusion and consistency proof served.</summary>
    public bool BendProofs { get; set; }
    /// <summary>Serves this entry in inclusion answers instead of the stored one.</summary>
    public byte[]? ServeEntryInstead { get; set; }
    /// <summary>Serves at most this many entries in total from /entries (a log that lost its tail).</summary>
    public long? ServeEntriesUpTo { get; set; }

    public static async Task<TestLog> StartAsync(CheckpointSigner signer)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var log = new TestLog(app, signer);
        log.Map(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        log.Url = new Uri(address);
        return log;
    }

    public long Append(byte[] entry)
    {
        lock (_lock)
        {
            Stored.Add(entry);
            return Tree.Append(entry);
        }
    }

    public long Append(SignedSubmission submission) => Append(LogEntry.For(submission).Bytes);

    /// <summary>Rebuilds the tree from the stored entries: a log that rewrote its history and signs the result.</summary>
    public void RebuildTreeFromStored()
    {
        lock (_lock)
        {
            Tree = new MerkleTree();
            foreach (var entry in Stored) Tree.Append(entry);
        }
    }

    public string Checkpoint(long? size = null)
    {
        lock (_lock) return Signer.Sign(Tree, size ?? Tree.Size);
    }

    private void Map(WebApplication app)
    {
        var json = KpuJson.Wire;
        app.MapGet("/api/v1/log/checkpoint", () => Results.Text(Checkpoint(), "text/plain; charset=utf-8"));
        app.MapGet("/api/v1/log/key", () => Results.Text(Signer.VerifierKey + "\n", "text/plain; charset=utf-8"));
        app.MapGet("/api/v1/log/proof/inclusion", (string? hash, string? tps, string? contest, long? size) =>
        {
            lock (_lock)
            {
                long index = Find(hash, tps, contest);
                if (index == -2) return Results.Json(new { error = "bad query" }, json, statusCode: 400);
                if (index < 0) return Results.Json(new { error = "not in the log" }, json, statusCode: 404);
                long treeSize = size ?? Tree.Size;
                var proof = Bend(Tree.InclusionProof(index, treeSize));
                return Results.Json(new
                {
                    leaf_index = index,
                    tree_size = treeSize,
                    proof = proof.Select(Convert.ToBase64String),
                    checkpoint = size is null ? Signer.Sign(Tree, treeSize) : null,
                    entry = Convert.ToBase64String(ServeEntryInstead ?? Stored[(int)index]),
                }, json);
            }
        });
        app.MapGet("/api/v1/log/proof/consistency", (long from, long to) =>
        {
            lock (_lock)
            {
                if (from < 1 || from > to || to > Tree.Size) return Results.Json(new { error = "bad sizes" }, json, statusCode: 400);
                return Results.Json(new { from, to, proof = Bend(Tree.ConsistencyProof(from, to)).Select(Convert.ToBase64String) }, json);
            }
        });
        app.MapGet("/api/v1/log/entries", (long start, long? end) =>
        {
            lock (_lock)
            {
                long available = Math.Min(Stored.Count, ServeEntriesUpTo ?? long.MaxValue);
                if (start < 0 || start > Tree.Size) return Results.Json(new { error = "bad start" }, json, statusCode: 400);
                long last = Math.Min(Math.Min(end ?? available, available), start + 1000);
                var entries = Stored.Skip((int)start).Take((int)Math.Max(0, last - start)).Select(Convert.ToBase64String).ToArray();
                return Results.Json(new { start, entries }, json);
            }
        });
        app.MapGet("/api/v1/devices/{id}/certificate", (string id) =>
            DeviceCertificates.TryGetValue(id, out var pem) ? Results.Text(pem, "application/x-pem-file") : Results.Json(new { error = "unknown device" }, json, statusCode: 404));
        app.MapGet("/api/v1/pki/crl", () => Crl is null ? Results.NotFound() : Results.Bytes(Crl, "application/pkix-crl"));
    }

    private long Find(string? hash, string? tps, string? contest)
    {
        if (hash is not null)
        {
            if (!Sha256Hash.TryParseHex(hash, out var h)) return -2;
            return Stored.FindIndex(e => e[0] == (byte)LogEntryType.Submission && Sha256Hash.Of(e.AsSpan(1)) == h);
        }
        if (!TpsCode.TryParse(tps, out var code) || !Contests.TryParseSlug(contest, out var c)) return -2;
        long best = -1;
        ulong bestSequence = 0;
        for (int i = 0; i < Stored.Count; i++)
        {
            if (!LogEntry.TryDecode(Stored[i], out var decoded, out _) || decoded.Submission is not { } s) continue;
            if (s.Submission.Tps != code || s.Submission.Contest != c || (best >= 0 && s.Submission.Sequence < bestSequence)) continue;
            best = i;
            bestSequence = s.Submission.Sequence;
        }
        return best;
    }

    private IReadOnlyList<byte[]> Bend(IReadOnlyList<byte[]> proof)
    {
        if (!BendProofs || proof.Count == 0) return proof;
        var bent = proof.Select(p => (byte[])p.Clone()).ToArray();
        bent[0][0] ^= 1;
        return bent;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    public static string Sha256Hex(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}
