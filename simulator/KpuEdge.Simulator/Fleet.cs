using System.Buffers.Binary;
using System.Diagnostics;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Edge.Device;
using KpuEdge.TestSupport;

namespace KpuEdge.Simulator;

/// <summary>One TPS of the fleet: its device's signing certificate and the chain of forms it signed.</summary>
public sealed record FleetDevice(KpuCertificate Certificate, IReadOnlyList<SignedSubmission> Forms);

/// <summary>One kecamatan: the TPS its PPK station carries.</summary>
public sealed record FleetKecamatan(string Code, IReadOnlyList<FleetDevice> Devices);

/// <summary>
/// A provisioned fleet for the national run, cached on disk: KPU's simulated PKI (seed and creation time) and, per
/// kecamatan, every TPS device's signing certificate from KPU's CA and the forms it signed (its own Ed25519 key, its
/// own chain, five contests — four in Jakarta). Provisioning the whole nation (820,161 certificates, ≈ 4.1 M
/// signatures) takes minutes on two cores, so it is done once per seed and sample and read back as a stream: a run
/// holds only the kecamatan it is sending, not the nation.
/// <para>Checking the cache reads only <c>fleet.json</c> (counts and length), not the gigabytes of the fleet.
/// File: <c>fleet.bin</c> = "KPUFLEET1", then per kecamatan: its code, its device count, and per device the
/// certificate DER and its forms' wire bytes, each length-prefixed (int32, big-endian).</para>
/// </summary>
public sealed class Fleet
{
    private static readonly byte[] Magic = "KPUFLEET1"u8.ToArray();
    private const string FileName = "fleet.bin";
    private const string ManifestName = "fleet.json";
    private const string PkiFolder = "pki";

    private Fleet(string directory, SimulationPki pki, int kecamatan, int devices, long forms)
    {
        Directory = directory;
        Pki = pki;
        KecamatanCount = kecamatan;
        DeviceCount = devices;
        FormCount = forms;
    }

    public string Directory { get; }
    public SimulationPki Pki { get; }
    public int KecamatanCount { get; }
    public int DeviceCount { get; }
    public long FormCount { get; }

    /// <summary>
    /// A sample of whole kecamatan holding at least <paramref name="tps"/> TPS (all of them when ≤ 0 or beyond
    /// <paramref name="all"/>), taken evenly across the country so that every province is in a large enough one: each PPK
    /// station carries all of its kecamatan's TPS, as on the night.
    /// </summary>
    public static IGrouping<string, TpsCode>[] WholeKecamatan(IReadOnlyList<TpsCode> all, int tps)
    {
        var kecamatan = all.GroupBy(t => t.Value[..6]).ToArray();
        if (tps <= 0 || tps >= all.Count) return kecamatan;
        var taken = new List<IGrouping<string, TpsCode>>();
        int held = 0;
        foreach (var k in Enumerable.Range(0, kecamatan.Length).Select(i => kecamatan[(int)((long)i * 7919 % kecamatan.Length)]))
        {
            if (held >= tps) break;
            taken.Add(k);
            held += k.Count();
        }
        return taken.ToArray();
    }

    /// <summary>The cached fleet of this sample in <paramref name="directory"/>, or a new one provisioned there.</summary>
    /// <param name="provisioned">Whether it had to be provisioned now (false: read from the cache).</param>
    public static Fleet OpenOrProvision(string directory, IReadOnlyList<IGrouping<string, TpsCode>> kecamatan, ElectionDefinition election,
        int seed, TimeProvider time, out bool provisioned, Action<string>? progress = null)
    {
        string file = Path.Combine(directory, FileName), pkiDirectory = Path.Combine(directory, PkiFolder);
        if (File.Exists(file) && File.Exists(Path.Combine(pkiDirectory, "simulation-pki.json")))
        {
            var cached = SimulationPki.Load(pkiDirectory, election);
            // Devices' certificates are valid for EphemeralPki.DefaultDeviceValidity from the PKI's creation; an old cache is made again.
            if (cached.Pki.Now + EphemeralPki.DefaultDeviceValidity - TimeSpan.FromDays(1) > time.GetUtcNow()
                && ReadManifest(directory) is { } counts && counts.Bytes == new FileInfo(file).Length
                && counts.Kecamatan == kecamatan.Count && counts.Devices == kecamatan.Sum(k => k.Count()))
            {
                provisioned = false;
                return new Fleet(directory, cached, counts.Kecamatan, counts.Devices, counts.Forms);
            }
        }
        provisioned = true;
        if (System.IO.Directory.Exists(directory)) System.IO.Directory.Delete(directory, recursive: true);
        System.IO.Directory.CreateDirectory(directory);
        var pki = SimulationPki.Create(election, seed);
        pki.Save(pkiDirectory);
        var ballots = election.Ballots(RegionTree.LoadEmbedded());
        long forms = 0;
        var clock = Stopwatch.StartNew();
        using (var output = new BufferedStream(File.Create(file + ".tmp"), 1 << 20))
        {
            output.Write(Magic);
            // Signed in parallel a slice at a time, written in order: the file is the same for the same seed and sample.
            const int Slice = 256;
            for (int start = 0; start < kecamatan.Count; start += Slice)
            {
                var blobs = new byte[Math.Min(Slice, kecamatan.Count - start)][];
                Parallel.For(0, blobs.Length, i =>
                {
                    var k = kecamatan[start + i];
                    var devices = k.Select(code =>
                    {
                        string deviceId = $"dev-{code}";
                        var key = DeviceKey.Deterministic(code.Value, seed);
                        var certificate = pki.Pki.IssueSigningCertificate(deviceId, KpuRole.Tps, code.Value, key);
                        var signer = new FormSigner(new DeviceIdentity(deviceId, code, key), election, ballots, time);
                        return new FleetDevice(certificate, SyntheticTally.ForTps(code, ballots, election, seed).Select(tally => signer.Sign(tally)).ToArray());
                    }).ToArray();
                    blobs[i] = Encode(new FleetKecamatan(k.Key, devices));
                    Interlocked.Add(ref forms, devices.Sum(d => d.Forms.Count));
                });
                foreach (var blob in blobs) output.Write(blob);
                progress?.Invoke($"provisioned {Math.Min(start + Slice, kecamatan.Count):N0}/{kecamatan.Count:N0} kecamatan, {Interlocked.Read(ref forms):N0} forms signed, {clock.Elapsed:mm\\:ss}");
            }
        }
        File.Move(file + ".tmp", file, overwrite: true);
        var manifest = new Manifest(kecamatan.Count, kecamatan.Sum(k => k.Count()), forms, new FileInfo(file).Length);
        File.WriteAllText(Path.Combine(directory, ManifestName), System.Text.Json.JsonSerializer.Serialize(manifest));
        return new Fleet(directory, pki, manifest.Kecamatan, manifest.Devices, manifest.Forms);
    }

    /// <summary>The kecamatan in file order, one at a time.</summary>
    public IEnumerable<FleetKecamatan> Read() => Read(decodeForms: true);

    /// <summary>Every device's signing certificate, without decoding the forms (to register the fleet before the run).</summary>
    public IEnumerable<KpuCertificate> Certificates() => Read(decodeForms: false).SelectMany(k => k.Devices.Select(d => d.Certificate));

    private IEnumerable<FleetKecamatan> Read(bool decodeForms)
    {
        using var input = new BufferedStream(File.OpenRead(Path.Combine(Directory, FileName)), 1 << 20);
        ReadMagic(input);
        while (ReadKecamatan(input, decodeForms) is { } k) yield return k;
    }

    /// <summary>What a finished provisioning wrote (<c>fleet.json</c>): counts, and the file's length, so a cut-off file is made again.</summary>
    private sealed record Manifest(int Kecamatan, int Devices, long Forms, long Bytes);

    private static Manifest? ReadManifest(string directory)
    {
        string path = Path.Combine(directory, ManifestName);
        if (!File.Exists(path)) return null;
        try { return System.Text.Json.JsonSerializer.Deserialize<Manifest>(File.ReadAllText(path)); }
        catch (System.Text.Json.JsonException) { return null; }
    }

    private static byte[] Encode(FleetKecamatan k)
    {
        using var buffer = new MemoryStream();
        WriteBytes(buffer, System.Text.Encoding.ASCII.GetBytes(k.Code));
        WriteInt(buffer, k.Devices.Count);
        foreach (var device in k.Devices)
        {
            WriteBytes(buffer, device.Certificate.Der);
            WriteInt(buffer, device.Forms.Count);
            foreach (var form in device.Forms) WriteBytes(buffer, form.Wire);
        }
        return buffer.ToArray();
    }

    private static void ReadMagic(Stream input)
    {
        var magic = ReadExactly(input, Magic.Length);
        if (!magic.AsSpan().SequenceEqual(Magic)) throw new InvalidDataException("Not a fleet file.");
    }

    /// <summary>The next kecamatan, or null at the end. Without <paramref name="decode"/>, forms are counted, not decoded (their entries stay null).</summary>
    private static FleetKecamatan? ReadKecamatan(Stream input, bool decode)
    {
        var prefix = new byte[4];
        int read = input.ReadAtLeast(prefix, prefix.Length, throwOnEndOfStream: false);
        if (read == 0) return null;
        if (read < prefix.Length) throw new InvalidDataException("A fleet file ends inside a record.");
        string code = System.Text.Encoding.ASCII.GetString(ReadExactly(input, Length(prefix)));
        var devices = new FleetDevice[ReadInt(input)];
        for (int d = 0; d < devices.Length; d++)
        {
            var certificate = KpuCertificate.FromDer(ReadBytes(input));
            var forms = new SignedSubmission[ReadInt(input)];
            for (int f = 0; f < forms.Length; f++)
            {
                var wire = ReadBytes(input);
                forms[f] = decode ? SignedSubmission.Decode(wire) : null!;
            }
            devices[d] = new FleetDevice(certificate, forms);
        }
        return new FleetKecamatan(code, devices);
    }

    private static int Length(byte[] prefix)
    {
        int length = BinaryPrimitives.ReadInt32BigEndian(prefix);
        if (length is < 0 or > 1 << 24) throw new InvalidDataException($"A record of {length} bytes in a fleet file.");
        return length;
    }

    private static void WriteInt(Stream output, int value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(bytes, value);
        output.Write(bytes);
    }

    private static void WriteBytes(Stream output, byte[] bytes)
    {
        WriteInt(output, bytes.Length);
        output.Write(bytes);
    }

    private static int ReadInt(Stream input)
    {
        var bytes = ReadExactly(input, 4);
        return Length(bytes);
    }

    private static byte[] ReadBytes(Stream input) => ReadExactly(input, ReadInt(input));

    private static byte[] ReadExactly(Stream input, int count)
    {
        var bytes = new byte[count];
        try { input.ReadExactly(bytes); }
        catch (EndOfStreamException) { throw new InvalidDataException("A fleet file ends inside a record."); }
        return bytes;
    }
}
