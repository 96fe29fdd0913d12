package search

import (
	"strings"
	"testing"
)

// Texts of a typical chat message's length in a few scripts.
var benchTexts = map[string]string{
	"english":  "Deployed v2.3.1 to staging, the migration took 4 minutes. Can someone check the dashboards before we ship to prod?",
	"german":   "Die Straßenbahn fährt heute nicht über die Brücke; bitte plant zehn Minuten mehr für den Weg zum Büro ein.",
	"chinese":  "我们今天下午三点在会议室讨论新版本的发布计划，请大家提前准备好各自负责部分的进度报告。",
	"japanese": "明日の会議は東京タワーの近くのカフェで十時からです。資料は共有フォルダに入れておきました。",
	"emoji":    "shipped it 🎉🎉 thanks all 👍🏽 ❤️ see you monday 🇩🇪",
}

// BenchmarkTokenize measures tokenizing one message; terms/op is the
// number of tokens, for the index's size.
func BenchmarkTokenize(b *testing.B) {
	for name, text := range benchTexts {
		b.Run(name, func(b *testing.B) {
			var toks []Token
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				toks = AppendTokens(toks[:0], text)
			}
			b.ReportMetric(float64(len(toks)), "tokens/op")
			b.ReportMetric(float64(len(Terms(text))), "terms/op")
		})
	}
}

// BenchmarkMatch measures confirming a candidate: the per-result cost of a
// search after the index found it.
func BenchmarkMatch(b *testing.B) {
	q, err := Parse(`deploy staging -rollback`)
	if err != nil {
		b.Fatal(err)
	}
	text := benchTexts["english"]
	for b.Loop() {
		if ok, _ := q.Match(text); !ok {
			b.Fatal("no match")
		}
	}
}

// BenchmarkParse measures parsing a query with every feature.
func BenchmarkParse(b *testing.B) {
	in := `deploy "exact phrase" -java from:alice in:general after:2026-11-01 東京タワー`
	for b.Loop() {
		if _, err := Parse(in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTokenizeLong measures a message at the default size limit.
func BenchmarkTokenizeLong(b *testing.B) {
	text := strings.Repeat(benchTexts["english"]+" ", 16<<10/len(benchTexts["english"]))
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		Tokenize(text)
	}
}
