using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Transparency;

namespace KpuEdge.Verify.Tests;

/// <summary>
/// A reproducible little election world: an in-memory PKI (seeded), one TPS device of KOTA BANDUNG with its
/// certificates, its signed forms, and the log key. Signed at 14:30 WIB on election day, well inside the
/// certificates' validity.
/// </summary>
internal static class World
{
    public static readonly RegionTree Tree = RegionTree.LoadEmbedded();
    public static readonly ElectionDefinition Election = ElectionDefinition.Default;
    public static readonly DateTimeOffset IssuedAt = new(2024, 2, 10, 0, 0, 0, TimeSpan.Zero);
    public static readonly DateTimeOffset SignedAt = new(2024, 2, 14, 14, 30, 15, 250, TimeSpan.FromHours(7));

    public static readonly EphemeralPki Pki = EphemeralPki.Create(Election.ElectionId, IssuedAt, seed: 1);
    /// <summary>Another KPU-lookalike PKI: same names, other keys.</summary>
    public static readonly EphemeralPki OtherPki = EphemeralPki.Create(Election.ElectionId, IssuedAt, seed: 2);

    public static readonly TpsCode Tps = TpsCode.Parse("3273011001003");
    public static readonly TpsCode OtherTps = TpsCode.Parse("3273011001004");
    public const string DeviceId = "dev-3273011001003-a";
    public static readonly DeviceCredentials Device = Pki.IssueDevice(DeviceId, KpuRole.Tps, Tps.Value);

    public static readonly CheckpointSigner LogSigner = new(DeviceKey.Deterministic("kpu-log", 1), Checkpoint.DefaultOrigin(Election.ElectionId));
    public static NoteVerifierKey LogKey => LogSigner.VerifierKey;

    public static string RootPem => Pki.Root.Certificate.ToPem();
    public static string IssuingPem => Pki.Issuing.Certificate.ToPem();
    public static TrustAnchors Anchors(byte[]? crl = null) => new(RootPem, IssuingPem, crl);

    public static C1Tally Tally(ContestId contest, TpsCode? tps = null, int seed = 1) =>
        SyntheticTally.ForTps(tps ?? Tps, Election.Ballots(Tree), Election, seed).Single(t => t.Contest == contest);

    public static SignedSubmission Sign(ContestId contest, ulong sequence = 1, TpsCode? tps = null, DeviceKey? key = null, string deviceId = DeviceId, int seed = 1) =>
        SignedSubmission.Sign(new Submission
        {
            ElectionId = Election.ElectionId,
            DeviceId = deviceId,
            Sequence = sequence,
            DeviceTime = SignedAt,
            ImageHash = Sha256Hash.Of("form image"u8),
            Tally = Tally(contest, tps, seed),
        }, key ?? Device.SigningKey);

    /// <summary>A CRL of the issuing CA listing <paramref name="revoked"/>, dated a week after the election.</summary>
    public static byte[] Crl(params RevokedCertificate[] revoked) =>
        Pki.Issuing.CreateCrl(revoked, SignedAt.AddDays(7), SignedAt.AddDays(14));
}
