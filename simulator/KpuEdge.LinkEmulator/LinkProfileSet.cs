using System.Text.Json;
using System.Text.Json.Serialization;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;

namespace KpuEdge.LinkEmulator;

/// <summary>
/// The link profiles and the region → profile assignment, as read from <c>link-profiles.json</c> (format in
/// this folder's README). A loaded set is valid: every profile checks out and every rule names defined profiles.
/// </summary>
public sealed record LinkProfileSet
{
    public const string ResourceName = "KpuEdge.LinkEmulator.link-profiles.json";

    public LinkProfileSet(IReadOnlyList<LinkProfile> profiles, RegionAssignment regions)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var profile in profiles)
        {
            profile.Validate();
            if (!names.Add(profile.Name)) throw new InvalidDataException($"Link profile '{profile.Name}' is defined twice.");
        }
        regions.Validate(names);
        Profiles = profiles;
        Regions = regions;
    }

    public IReadOnlyList<LinkProfile> Profiles { get; }

    public RegionAssignment Regions { get; }

    public LinkProfile this[string name] =>
        Profiles.FirstOrDefault(p => p.Name == name)
        ?? throw new KeyNotFoundException($"No link profile '{name}' (known: {string.Join(", ", Profiles.Select(p => p.Name))}).");

    /// <summary>The profile of the device with this id in this region (see <see cref="RegionAssignment"/>).</summary>
    public LinkProfile ProfileFor(RegionCode region, string deviceId, int seed = 0) => this[Regions.ProfileFor(region, deviceId, seed)];

    /// <summary>The profiles shipped in the library (<c>link-profiles.json</c> of this project).</summary>
    public static LinkProfileSet LoadDefault()
    {
        using var stream = typeof(LinkProfileSet).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"Embedded resource {ResourceName} is missing.");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd());
    }

    public static LinkProfileSet Load(string path)
    {
        try
        {
            return Parse(File.ReadAllText(path));
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    public static LinkProfileSet Parse(string json)
    {
        FileDto file;
        try
        {
            file = JsonSerializer.Deserialize<FileDto>(json, ReadOptions) ?? throw new InvalidDataException("The profile file is empty.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Not a link profile file: {e.Message}", e);
        }
        if (file.Profiles is null || file.Profiles.Count == 0) throw new InvalidDataException("The profile file defines no profiles.");
        if (file.Regions is null) throw new InvalidDataException("The profile file has no \"regions\" section.");
        return new LinkProfileSet(file.Profiles.Select(ToProfile).ToList(), ToAssignment(file.Regions));
    }

    // Comments and trailing commas are allowed so the file can explain itself; unknown keys are refused so a
    // misspelt one ("latency" for "latency_ms") is not silently ignored.
    private static readonly JsonSerializerOptions ReadOptions = new(KpuJson.Files)
    {
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    private static LinkProfile ToProfile(ProfileDto p)
    {
        var resets = LinkResets.None;
        if (p.Resets is { } r)
        {
            if (r.AfterBytes is { Length: not 2 }) throw new InvalidDataException($"Link profile '{p.Name}': after_bytes is [min, max].");
            resets = new LinkResets
            {
                FractionOfConnections = r.FractionOfConnections,
                AfterBytesMin = r.AfterBytes?[0] ?? LinkResets.None.AfterBytesMin,
                AfterBytesMax = r.AfterBytes?[1] ?? LinkResets.None.AfterBytesMax,
                MeanTimeBetween = r.MeanSecondsBetween is { } s ? TimeSpan.FromSeconds(s) : null,
            };
        }
        return new LinkProfile
        {
            Name = p.Name ?? "",
            Description = p.Description,
            Latency = TimeSpan.FromMilliseconds(p.LatencyMs),
            Jitter = TimeSpan.FromMilliseconds(p.JitterMs),
            UpBytesPerSecond = KbitToBytes(p.UpKbitS),
            DownBytesPerSecond = KbitToBytes(p.DownKbitS),
            BurstBytes = p.BurstBytes,
            Resets = resets,
            Outages = (p.Outages ?? []).Select(o => new LinkOutage(TimeSpan.FromSeconds(o.StartS), TimeSpan.FromSeconds(o.EndS))).ToList(),
        };
    }

    // kbit/s as link sellers quote it (1 kbit = 1000 bits); the proxy counts bytes.
    private static long? KbitToBytes(double? kbit) => kbit is { } k ? (long)Math.Round(k * 1000 / 8) : null;

    private static RegionAssignment ToAssignment(RegionsDto regions) =>
        new(regions.Default ?? throw new InvalidDataException("The \"regions\" section has no default profile."),
            (regions.Rules ?? []).Select(rule => new RegionRule(
                (rule.Regions ?? []).Select(code => RegionCode.TryParse(code, out var c)
                    ? c
                    : throw new InvalidDataException($"Region rule '{rule.Note}': '{code}' is not a region code.")).ToList(),
                (rule.Profiles ?? []).Select(kv => new WeightedProfile(kv.Key, kv.Value)).ToList(),
                rule.Note)).ToList());

    private sealed class FileDto
    {
        public List<ProfileDto>? Profiles { get; set; }
        public RegionsDto? Regions { get; set; }
    }

    private sealed class ProfileDto
    {
        public string? Name { get; set; }
        public string? Description { get; set; }
        public double LatencyMs { get; set; }
        public double JitterMs { get; set; }
        public double? UpKbitS { get; set; }
        public double? DownKbitS { get; set; }
        public long? BurstBytes { get; set; }
        public ResetsDto? Resets { get; set; }
        public List<OutageDto>? Outages { get; set; }
    }

    private sealed class ResetsDto
    {
        public double FractionOfConnections { get; set; }
        public long[]? AfterBytes { get; set; }
        public double? MeanSecondsBetween { get; set; }
    }

    private sealed class OutageDto
    {
        public double StartS { get; set; }
        public double EndS { get; set; }
    }

    private sealed class RegionsDto
    {
        public string? Default { get; set; }
        public List<RuleDto>? Rules { get; set; }
    }

    private sealed class RuleDto
    {
        public string? Note { get; set; }
        public List<string>? Regions { get; set; }
        public Dictionary<string, double>? Profiles { get; set; }
    }
}
