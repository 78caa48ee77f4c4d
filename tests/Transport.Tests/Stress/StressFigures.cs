using System.Globalization;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Stress;

/// <summary>
/// The figures a stress scenario measured, written to the test's output and appended to
/// <c>artifacts/test-results/stress-figures.tsv</c> (transport, scenario, figure, value, unit), which
/// <c>.ci/run</c> prints as a table and the README's reliability section quotes.
/// </summary>
internal static class StressFigures
{
    private static readonly Lock s_lock = new();

    public static void Record(ITestOutputHelper output, string transport, string scenario, string figure, double value, string unit)
    {
        var text = value.ToString(Math.Abs(value) >= 100 ? "F0" : "0.###", CultureInfo.InvariantCulture);
        output.WriteLine($"{transport} {scenario}: {figure} = {text} {unit}");
        lock (s_lock)
        {
            var path = FilePath();
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.AppendAllText(path, $"{transport}\t{scenario}\t{figure}\t{text}\t{unit}\n");
        }
    }

    private static string FilePath() => RepositoryRoot.Find() is { } root
        ? Path.Combine(root, "artifacts", "test-results", "stress-figures.tsv")
        : Path.Combine(AppContext.BaseDirectory, "stress-figures.tsv");
}
