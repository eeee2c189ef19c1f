using KpuEdge.Core.Elections;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Transparency;

namespace KpuEdge.Verify.Tests;

/// <summary>`inclusion`, `consistency` and `audit` against a real HTTP log (Kestrel on 127.0.0.1), honest and not.</summary>
public sealed class LogCommandTests : IAsyncLifetime
{
    private TestLog _log = null!;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };
    private readonly Verifier _verifier;
    private readonly List<SignedSubmission> _forms = [];
    private readonly string _dir = Directory.CreateTempSubdirectory("kpu-verify-").FullName;

    public LogCommandTests() => _verifier = new Verifier(_http);

    public async Task InitializeAsync()
    {
        _log = await TestLog.StartAsync(World.LogSigner);
        ulong sequence = 1;
        foreach (var contest in Contests.All)
        {
            var form = World.Sign(contest, sequence++);
            _forms.Add(form);
            _log.Append(form);
        }
        _log.Append(LogEntry.For(new LoggedRevocation("dev-3273011001099-a", "1f2e", World.SignedAt, RevocationReason.KeyCompromise)).Bytes);
        // A correction: a second PPWP version with a higher sequence, which the log serves for (TPS, ppwp).
        var correction = World.Sign(ContestId.Ppwp, sequence: 9, seed: 2);
        _forms.Add(correction);
        _log.Append(correction);
    }

    public async Task DisposeAsync()
    {
        await _log.DisposeAsync();
        _http.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private Task<VerificationReport> Inclusion(InclusionTarget target, NoteVerifierKey? key = null) =>
        _verifier.VerifyInclusionAsync(_log.Url, key ?? World.LogKey, target, default);

    private async Task<(int Code, string Out)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        int code = await Cli.RunAsync(args, stdout, new StringWriter(), _http);
        return (code, stdout.ToString());
    }

    [Fact]
    public async Task Proves_a_submission_in_the_log_by_hash_by_tps_and_by_its_bytes()
    {
        var dpr = _forms[1];
        var byHash = await Inclusion(new InclusionTarget.ByHash(dpr.Hash));
        Assert.True(byHash.Ok, string.Join("\n", byHash.Checks));
        Assert.Equal(["checkpoint_signature", "inclusion_proof", "entry"], byHash.Checks.Select(c => c.Name));
        Assert.Equal("1", byHash.Facts["leaf_index"]);
        Assert.Equal("7", byHash.Facts["tree_size"]);

        var bytes = await Inclusion(new InclusionTarget.BySubmission(dpr.Wire));
        Assert.True(bytes.Ok, string.Join("\n", bytes.Checks));
        Assert.Equal("decode", bytes.Checks[0].Name);

        var byTps = await Inclusion(new InclusionTarget.ByTps(World.Tps, ContestId.Ppwp));
        Assert.True(byTps.Ok, string.Join("\n", byTps.Checks));
        Assert.Equal("6", byTps.Facts["leaf_index"]);
    }

    [Fact]
    public async Task Fails_for_a_submission_the_log_does_not_have()
    {
        var never = World.Sign(ContestId.Ppwp, sequence: 42, seed: 3);
        var report = await Inclusion(new InclusionTarget.BySubmission(never.Wire));
        Assert.Equal(1, report.ExitCode);
        Assert.Equal("not_in_log", report["in_log"]!.Error);
    }

    [Fact]
    public async Task Trusts_only_the_key_it_was_given_never_the_logs()
    {
        var otherKey = new CheckpointSigner(DeviceKey.Deterministic("other-log", 1), World.LogSigner.Origin).VerifierKey;
        var report = await Inclusion(new InclusionTarget.ByHash(_forms[0].Hash), otherKey);
        Assert.Equal(1, report.ExitCode);
        Assert.Equal(LogErrors.BadCheckpointSignature, report["checkpoint_signature"]!.Error);

        // A log that signs its checkpoints with another key (and would offer that key at /log/key).
        _log.Signer = new CheckpointSigner(DeviceKey.Deterministic("forger", 1), World.LogSigner.Origin);
        report = await Inclusion(new InclusionTarget.ByHash(_forms[0].Hash));
        Assert.Equal(LogErrors.BadCheckpointSignature, report["checkpoint_signature"]!.Error);
        Assert.Null(report["inclusion_proof"]);
    }

    [Fact]
    public async Task Catches_a_bent_proof_and_a_swapped_entry()
    {
        _log.BendProofs = true;
        var report = await Inclusion(new InclusionTarget.ByHash(_forms[2].Hash));
        Assert.Equal(LogErrors.BadProof, report["inclusion_proof"]!.Error);
        _log.BendProofs = false;

        // The log answers for our submission with another entry (and its leaf index): the proof fails, the entry differs.
        _log.ServeEntryInstead = LogEntry.For(_forms[3]).Bytes;
        report = await Inclusion(new InclusionTarget.BySubmission(_forms[2].Wire));
        Assert.Equal(1, report.ExitCode);
        Assert.Equal(LogErrors.BadProof, report["inclusion_proof"]!.Error);
        Assert.Equal(LogErrors.LeafMismatch, report["entry"]!.Error);
        report = await Inclusion(new InclusionTarget.ByHash(_forms[2].Hash));
        Assert.Equal(LogErrors.LeafMismatch, report["entry"]!.Error);
    }

    [Fact]
    public async Task Proves_the_log_only_grew_since_a_saved_checkpoint()
    {
        string saved = _log.Checkpoint(3);
        var report = await _verifier.VerifyConsistencyAsync(_log.Url, World.LogKey, saved);
        Assert.True(report.Ok, string.Join("\n", report.Checks));
        Assert.Equal(("3", "7"), (report.Facts["old_size"], report.Facts["new_size"]));
        Assert.Equal(_log.Checkpoint(), report.VerifiedCheckpoint);

        // Same size, and two given files.
        Assert.True((await _verifier.VerifyConsistencyAsync(_log.Url, World.LogKey, _log.Checkpoint(), _log.Checkpoint())).Ok);
        Assert.True((await _verifier.VerifyConsistencyAsync(_log.Url, World.LogKey, _log.Checkpoint(1), _log.Checkpoint(4))).Ok);
        Assert.True((await _verifier.VerifyConsistencyAsync(_log.Url, World.LogKey, _log.Checkpoint(0))).Ok);
    }

    [Fact]
    public async Task Catches_a_log_that_rewrote_history_after_signing()
    {
        string saved = _log.Checkpoint(4);
        // Entry 2 (the DPD form) replaced by another DPD form, the tree rebuilt and re-signed with the real key.
        _log.Stored[2] = LogEntry.For(World.Sign(ContestId.Dpd, sequence: 3, seed: 5)).Bytes;
        _log.RebuildTreeFromStored();

        var report = await _verifier.VerifyConsistencyAsync(_log.Url, World.LogKey, saved);
        Assert.Equal(1, report.ExitCode);
        Assert.Equal(LogErrors.BadProof, report["consistency_proof"]!.Error);
        Assert.Null(report.VerifiedCheckpoint);

        // Two signed checkpoints of one size with different roots: a fork, no proof needed to see it.
        var fork = await _verifier.VerifyConsistencyAsync(_log.Url, World.LogKey, saved, _log.Checkpoint(4));
        Assert.Equal(LogErrors.BadProof, fork["consistency_proof"]!.Error);
    }

    [Fact]
    public async Task Refuses_forged_or_shrunk_checkpoints()
    {
        var forger = new CheckpointSigner(DeviceKey.Deterministic("forger", 1), World.LogSigner.Origin);
        var forged = await _verifier.VerifyConsistencyAsync(_log.Url, World.LogKey, forger.Sign(_log.Tree, 3));
        Assert.Equal(LogErrors.BadCheckpointSignature, forged["old_checkpoint"]!.Error);

        string altered = _log.Checkpoint(3).Replace("\n3\n", "\n2\n");
        Assert.Equal(LogErrors.BadCheckpointSignature, (await _verifier.VerifyConsistencyAsync(_log.Url, World.LogKey, altered))["old_checkpoint"]!.Error);

        var shrunk = await _verifier.VerifyConsistencyAsync(_log.Url, World.LogKey, _log.Checkpoint(), _log.Checkpoint(2));
        Assert.Equal(LogErrors.SizeMismatch, shrunk["consistency_proof"]!.Error);

        Assert.Equal(LogErrors.MalformedCheckpoint, (await _verifier.VerifyConsistencyAsync(_log.Url, World.LogKey, "hello\n"))["old_checkpoint"]!.Error);
    }

    [Fact]
    public async Task Audits_the_whole_log_and_finds_an_altered_stored_entry()
    {
        var report = await _verifier.AuditAsync(_log.Url, World.LogKey);
        Assert.True(report.Ok, string.Join("\n", report.Checks));
        Assert.Equal(("6", "1"), (report.Facts["submissions"], report.Facts["revocations"]));

        // The database row of entry 1 edited after it was logged: the served entries no longer hash to the signed root.
        var altered = (byte[])_log.Stored[1].Clone();
        altered[^70] ^= 0x01;
        _log.Stored[1] = altered;
        report = await _verifier.AuditAsync(_log.Url, World.LogKey);
        Assert.Equal(1, report.ExitCode);
        Assert.Equal(LogErrors.RootMismatch, report["root"]!.Error);
    }

    [Fact]
    public async Task Audit_finds_missing_entries_and_entries_not_in_the_logs_encoding()
    {
        _log.ServeEntriesUpTo = 5;
        var missing = await _verifier.AuditAsync(_log.Url, World.LogKey);
        Assert.Equal(LogErrors.RootMismatch, missing["entries"]!.Error);
        _log.ServeEntriesUpTo = null;

        // Logged and signed, but not an entry of this log: the root matches, the decoding does not.
        _log.Append([0x07, 0x01, 0x02]);
        _log.Append(LogEntry.For(_forms[0]).Bytes);
        var report = await _verifier.AuditAsync(_log.Url, World.LogKey);
        Assert.Equal(CheckStatus.Passed, report["root"]!.Status);
        Assert.Equal(LogErrors.MalformedEntry, report["decode_entries"]!.Error);
        Assert.Equal("duplicate_entry", report["no_duplicates"]!.Error);
        Assert.Contains("8 = 0", report["no_duplicates"]!.Detail);
    }

    [Fact]
    public async Task Audits_a_log_larger_than_one_page()
    {
        for (int i = 0; i < 2345; i++)
            _log.Append(LogEntry.For(new LoggedRevocation($"dev-{i}", (i + 1).ToString("x"), World.SignedAt, RevocationReason.Superseded)).Bytes);
        var report = await _verifier.AuditAsync(_log.Url, World.LogKey);
        Assert.True(report.Ok, string.Join("\n", report.Checks));
        Assert.Equal("2352", report.Facts["tree_size"]);
    }

    [Fact]
    public async Task Runs_from_the_command_line()
    {
        string key = World.LogKey.Format();
        string url = _log.Url.ToString();
        var (code, output) = await Run("inclusion", "--log", url, "--key", key, "--hash", _forms[0].Hash.ToString());
        Assert.Equal(0, code);
        Assert.Contains("✓ inclusion_proof:", output);

        string keyFile = Path.Combine(_dir, "log.key");
        File.WriteAllText(keyFile, key + "\n");
        string wire = Path.Combine(_dir, "dpr.cbor");
        File.WriteAllBytes(wire, _forms[1].Wire);
        (code, _) = await Run("inclusion", "--log", url, "--key", keyFile, "--submission", wire);
        Assert.Equal(0, code);
        (code, _) = await Run("inclusion", "--log", url, "--key", key, "--tps", "3273011001003", "--contest", "dprd-kabko");
        Assert.Equal(0, code);

        // Usage: none or two of the ways to name the submission, a bad key, a bad URL.
        (code, _) = await Run("inclusion", "--log", url, "--key", key);
        Assert.Equal(2, code);
        (code, _) = await Run("inclusion", "--log", url, "--key", key, "--hash", _forms[0].Hash.ToString(), "--submission", wire);
        Assert.Equal(2, code);
        (code, _) = await Run("inclusion", "--log", url, "--key", "not-a-key", "--hash", _forms[0].Hash.ToString());
        Assert.Equal(2, code);
        (code, _) = await Run("inclusion", "--log", "ftp://x", "--key", key, "--hash", _forms[0].Hash.ToString());
        Assert.Equal(2, code);

        string old = Path.Combine(_dir, "old.checkpoint"), next = Path.Combine(_dir, "next.checkpoint");
        File.WriteAllText(old, _log.Checkpoint(2));
        (code, output) = await Run("consistency", "--log", url, "--key", key, "--old", old, "--save", next, "--json");
        Assert.Equal(0, code);
        Assert.Contains("\"new_size\": \"7\"", output);
        Assert.Equal(_log.Checkpoint(), File.ReadAllText(next));

        (code, output) = await Run("audit", "--log", url, "--key", key);
        Assert.Equal(0, code);
        Assert.Contains("✓ root:", output);
    }

    [Fact]
    public async Task Cannot_check_when_the_log_is_unreachable()
    {
        var closed = new Uri("http://127.0.0.1:9/");
        var report = await _verifier.AuditAsync(closed, World.LogKey);
        Assert.Equal(2, report.ExitCode);
        Assert.Equal("log_unreachable", report.Error);
        Assert.Equal(2, (await _verifier.VerifyInclusionAsync(closed, World.LogKey, new InclusionTarget.ByHash(_forms[0].Hash))).ExitCode);
    }
}
