using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using KpuEdge.Core.Regions;

namespace KpuEdge.LinkEmulator;

/// <summary>A profile and its relative weight within a <see cref="RegionRule"/>.</summary>
public readonly record struct WeightedProfile(string Profile, double Weight);

/// <summary>Devices in any of <see cref="Regions"/> get one of <see cref="Profiles"/>, in proportion to the weights.</summary>
public sealed record RegionRule(IReadOnlyList<RegionCode> Regions, IReadOnlyList<WeightedProfile> Profiles, string? Note = null)
{
    public bool Matches(RegionCode region) => Regions.Any(r => r.Contains(region));
}

/// <summary>
/// Which link each device has, by where it is: the first rule whose regions contain the device's region
/// decides, otherwise <see cref="DefaultProfile"/>. The pick among a rule's weighted profiles is a hash of
/// the seed and the device id, so a device keeps its link from run to run and across processes.
/// </summary>
public sealed record RegionAssignment(string DefaultProfile, IReadOnlyList<RegionRule> Rules)
{
    public string ProfileFor(RegionCode region, string deviceId, int seed = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(deviceId);
        var rule = Rules.FirstOrDefault(r => r.Matches(region));
        if (rule is null) return DefaultProfile;

        double total = rule.Profiles.Sum(p => p.Weight);
        double point = UnitHash(seed, deviceId) * total;
        // Profiles in name order, so the pick does not depend on how the file happened to list them.
        foreach (var p in rule.Profiles.OrderBy(p => p.Profile, StringComparer.Ordinal))
        {
            if (point < p.Weight) return p.Profile;
            point -= p.Weight;
        }
        return rule.Profiles.MaxBy(p => p.Profile, StringComparer.Ordinal).Profile; // rounding at the very top
    }

    /// <summary>A uniform number in [0, 1) from SHA-256, stable across .NET versions (string.GetHashCode is not).</summary>
    private static double UnitHash(int seed, string deviceId)
    {
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes($"{seed}:{deviceId}"), digest);
        return (BinaryPrimitives.ReadUInt64BigEndian(digest) >> 11) * (1.0 / (1UL << 53));
    }

    internal void Validate(IReadOnlySet<string> profileNames)
    {
        if (!profileNames.Contains(DefaultProfile)) throw new InvalidDataException($"Region assignment: the default profile '{DefaultProfile}' is not defined.");
        foreach (var rule in Rules)
        {
            string which = rule.Note ?? string.Join(",", rule.Regions);
            if (rule.Regions.Count == 0) throw new InvalidDataException($"Region rule '{which}' names no region.");
            if (rule.Profiles.Count == 0) throw new InvalidDataException($"Region rule '{which}' names no profile.");
            foreach (var p in rule.Profiles)
            {
                if (!profileNames.Contains(p.Profile)) throw new InvalidDataException($"Region rule '{which}': profile '{p.Profile}' is not defined.");
                if (!(p.Weight > 0) || double.IsInfinity(p.Weight)) throw new InvalidDataException($"Region rule '{which}': the weight of '{p.Profile}' must be positive.");
            }
        }
    }
}
