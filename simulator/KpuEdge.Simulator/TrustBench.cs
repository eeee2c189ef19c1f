using System.Diagnostics;
using System.Text;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Transparency;
using KpuEdge.TestSupport;

namespace KpuEdge.Simulator;

/// <summary>
/// The chain of trust's own costs, on one core: issuing device certificates, appending to the transparency log at
/// national scale, producing and verifying inclusion and consistency proofs, signing and verifying checkpoints.
/// </summary>
public static class TrustBench
{
    /// <summary>Forms of a national election: 820,161 TPS × five contests (fewer in Jakarta), rounded.</summary>
    public const int NationalEntries = 4_100_000;

    public static string Run(SimulationPki pki, IReadOnlyList<SignedSubmission> sample, int seed, Action<string> line)
    {
        var md = new StringBuilder();
        void Line(string text) { line(text); md.AppendLine(text); }
        var random = new Random(seed);

        // Device certificates: two per device (Ed25519 signing, P-256 TLS), as the simulator issues them.
        var watch = Stopwatch.StartNew();
        const int devices = 2_000;
        for (int i = 0; i < devices; i++) pki.Pki.IssueDevice($"bench-{i}", KpuRole.Tps, "3273011001003");
        double issueRate = devices / watch.Elapsed.TotalSeconds;

        // The log at national scale: entries are real signed submissions (0x01 || wire), cycled.
        var entries = sample.Select(s => LogEntry.EncodeSubmission(s.Wire)).ToArray();
        var tree = new MerkleTree();
        watch.Restart();
        for (int i = 0; i < NationalEntries; i++) tree.Append(entries[i % entries.Length]);
        double appendRate = NationalEntries / watch.Elapsed.TotalSeconds;
        watch.Restart();
        var root = tree.Root();
        double rootMs = watch.Elapsed.TotalMilliseconds;

        const int proofs = 20_000;
        var indexes = Enumerable.Range(0, proofs).Select(_ => random.NextInt64(NationalEntries)).ToArray();
        watch.Restart();
        var inclusion = indexes.Select(i => tree.InclusionProof(i, NationalEntries)).ToArray();
        double proveRate = proofs / watch.Elapsed.TotalSeconds;
        var leafHashes = indexes.Select(i => tree.LeafHashAt(i)).ToArray();
        watch.Restart();
        for (int i = 0; i < proofs; i++)
            if (!MerkleProof.VerifyInclusion(indexes[i], NationalEntries, leafHashes[i], inclusion[i], root))
                throw new InvalidOperationException("A benchmark inclusion proof failed to verify.");
        double verifyRate = proofs / watch.Elapsed.TotalSeconds;

        const int consistencies = 5_000;
        var sizes = Enumerable.Range(0, consistencies).Select(_ => random.NextInt64(1, NationalEntries)).ToArray();
        watch.Restart();
        var consistency = sizes.Select(s => tree.ConsistencyProof(s, NationalEntries)).ToArray();
        double consistencyRate = consistencies / watch.Elapsed.TotalSeconds;
        var oldRoots = sizes.Select(s => tree.Root(s)).ToArray();
        watch.Restart();
        for (int i = 0; i < consistencies; i++)
            if (!MerkleProof.VerifyConsistency(sizes[i], NationalEntries, oldRoots[i], root, consistency[i]))
                throw new InvalidOperationException("A benchmark consistency proof failed to verify.");
        double consistencyVerifyRate = consistencies / watch.Elapsed.TotalSeconds;

        // Checkpoints: what the ingest signs after every group commit, and what every device verifies per receipt.
        var signer = new CheckpointSigner(pki.Cloud.LogKey.Key, pki.Cloud.LogKey.Origin);
        const int notes = 5_000;
        watch.Restart();
        var signed = Enumerable.Range(0, notes).Select(i => signer.Sign(NationalEntries - i, root)).ToArray();
        double signRate = notes / watch.Elapsed.TotalSeconds;
        watch.Restart();
        foreach (var note in signed)
            if (!LogVerification.VerifyCheckpoint(note, pki.LogKey, out _).Ok) throw new InvalidOperationException("A benchmark checkpoint failed to verify.");
        double noteVerifyRate = notes / watch.Elapsed.TotalSeconds;
        long proofBytes = inclusion.Sum(p => p.Count * 32L) / proofs;

        Line($"One core, log of {NationalEntries:N0} entries (a national election's forms; real signed submissions as entries):");
        Line("");
        Line("| figure | value |");
        Line("|---|---:|");
        Line($"| device provisioning (signing + TLS certificate) | {issueRate:N0} devices/s |");
        Line($"| log appends (entry hashed into the tree) | {appendRate:N0} entries/s ({NationalEntries / appendRate:F1} s for the nation) |");
        Line($"| root of the full tree | {rootMs:F1} ms |");
        Line($"| inclusion proofs generated | {proveRate:N0}/s ({proofBytes} bytes of hashes each, mean) |");
        Line($"| inclusion proofs verified | {verifyRate:N0}/s |");
        Line($"| consistency proofs generated / verified | {consistencyRate:N0}/s / {consistencyVerifyRate:N0}/s |");
        Line($"| checkpoints signed / verified (C2SP note, Ed25519) | {signRate:N0}/s / {noteVerifyRate:N0}/s |");
        Line("");
        return md.ToString();
    }
}
