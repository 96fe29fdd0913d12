package search

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// marked writes text with each highlight in [brackets].
func marked(text string, hl []Range) string {
	var b strings.Builder
	at := 0
	for _, r := range hl {
		b.WriteString(text[at:r[0]] + "[" + text[r[0]:r[1]] + "]")
		at = r[1]
	}
	return b.String() + text[at:]
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		name, query, text string
		want              string // the text with highlights, or "" for no match
	}{
		// Latin: case, accents, prefixes.
		{"case", "HELLO", "hello there", "[hello] there"},
		{"accent in text", "cafe", "Un café, s'il vous plaît", "Un [café], s'il vous plaît"},
		{"accent in query", "café", "CAFE open", "[CAFE] open"},
		{"decomposed accent", "cafe", "cafe\u0301 noir", "[cafe\u0301] noir"},
		{"prefix as you type", "depl", "we deployed it", "we [deployed] it"},
		{"prefix of every word", "dep ser", "the server is deploying", "the [server] is [deploying]"},
		{"no infix", "ploy", "deploy", ""},
		{"all words must match", "deploy friday", "deploy on monday", ""},
		{"every occurrence", "go", "Go, go, GO!", "[Go], [go], [GO]!"},
		{"one letter is a whole word", "a", "an apple a day", "an apple [a] day"},
		{"stroke letters", "lodz", "Łódź by train", "[Łódź] by train"},
		{"full-width", "abc", "ＡＢＣ news", "[ＡＢＣ] news"},
		{"ligature", "office", "the ﬃce… I mean the oﬃce", "the ﬃce… I mean the [oﬃce]"},
		{"greek", "αθηνα", "Αθήνα είναι", "[Αθήνα] είναι"},
		{"cyrillic", "привет", "Привет, мир", "[Привет], мир"},
		{"ё folds like an accent", "еж", "Ёжик", "[Ёжик]"},
		// German.
		{"ß as ss", "strasse", "Die Straße ist lang", "Die [Straße] ist lang"},
		{"ss finds ß spelled ẞ", "STRASSE", "GROẞE STRAẞE", "GROẞE [STRAẞE]"},
		{"ü as u", "munchen", "München", "[München]"},
		{"ü as ue", "muenchen", "Flug nach München", "Flug nach [München]"},
		{"ue in text, ü typed", "müller", "Herr Mueller", "Herr [Mueller]"},
		{"umlaut prefix", "mäd", "Mädchen", "[Mädchen]"},
		// Chinese and Japanese: any substring of the text.
		{"chinese word", "北京", "我爱北京天安门", "我爱[北京]天安门"},
		{"chinese across words", "京天", "我爱北京天安门", "我爱北[京天]安门"},
		{"chinese long substring", "北京天安门", "我爱北京天安门", "我爱[北京天安门]"},
		{"chinese one character", "门", "我爱北京天安门", "我爱北京天安[门]"},
		{"chinese one character inside", "京", "我爱北京天安门", "我爱北[京]天安门"},
		{"chinese not there", "上海", "我爱北京天安门", ""},
		{"chinese order matters", "京北", "我爱北京天安门", ""},
		{"japanese kanji and kana", "京タワ", "東京タワーに行きました", "東[京タワ]ーに行きました"},
		{"japanese kana", "いきました", "東京タワーにいきました", "東京タワーに[いきました]"},
		{"japanese voiced kana stay distinct", "かき", "がぎ", ""},
		{"half-width katakana", "ガギ", "ｶﾞｷﾞ", "[ｶﾞｷﾞ]"},
		{"mixed latin and chinese", "Go语言", "学习Go语言很好", "学习[Go语言]很好"},
		{"latin next to chinese", "用Go", "我用Go写", "我[用Go]写"},
		{"latin next to chinese, not adjacent", "用Go", "用户Go", ""},
		{"two chinese words", "北京 门", "我爱北京天安门", "我爱[北京]天安[门]"},
		{"thai", "สดี", "สวัสดีครับ", "สวั[สดี]ครับ"},
		{"korean words by prefix", "서울", "서울에서 만나요", "[서울에서] 만나요"},
		// Emoji.
		{"emoji", "🎉", "shipped 🎉🎉", "shipped [🎉🎉]"},
		{"emoji ignores skin tone", "👍", "nice 👍🏽", "nice [👍🏽]"},
		{"emoji ignores presentation", "❤", "I ❤️ Go", "I [❤️] Go"},
		{"zwj sequence is whole", "👩‍💻", "the 👩‍💻 is in", "the [👩‍💻] is in"},
		{"flag", "🇩🇪", "🇫🇷 and 🇩🇪", "🇫🇷 and [🇩🇪]"},
		{"emoji with words", "ship 🎉", "ship it 🎉", "[ship] it [🎉]"},
		// Phrases and exclusions.
		{"phrase", `"tower is"`, "the tower is tall", "the [tower is] tall"},
		{"phrase order", `"is tower"`, "the tower is tall", ""},
		{"phrase exact", `"tow is"`, "the tower is tall", ""},
		{"phrase with punctuation", `"don't stop"`, "Don’t stop me now", "[Don’t stop] me now"},
		{"excluded", "go -java", "go and java", ""},
		{"excluded prefix", "go -jav", "go and javascript", ""},
		{"excluded absent", "go -java", "go and rust", "[go] and rust"},
		{"excluded phrase", `go -"no way"`, "go, no way", ""},
		{"excluded phrase absent", `go -"no way"`, "go, way no", "[go], way no"},
		{"filters alone match any text", "from:alice", "anything", "anything"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := Parse(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			ok, hl := q.Match(tc.text)
			got := ""
			if ok {
				got = marked(tc.text, hl)
			}
			if got != tc.want {
				t.Fatalf("Match(%q, %q): got %q, want %q", tc.query, tc.text, got, tc.want)
			}
		})
	}
}

func TestUTF16(t *testing.T) {
	text := "a😀é北🎉z"
	// bytes: a 0-1, 😀 1-5, é 5-7, 北 7-10, 🎉 10-14, z 14-15
	// UTF-16: a 0, 😀 1-3, é 3, 北 4, 🎉 5-7, z 7
	got := UTF16(text, []Range{{1, 5}, {7, 10}, {10, 15}, {0, 1}})
	want := []Range{{1, 3}, {4, 5}, {5, 8}, {0, 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	q, _ := Parse("北")
	_, hl := q.Match(text)
	if u := UTF16(text, hl); fmt.Sprint(u) != "[[4 5]]" {
		t.Fatalf("highlight of 北: got %v, want [[4 5]]", u)
	}
}

func TestTermsForIndex(t *testing.T) {
	got := Terms("Müller und MÜLLER 🎉 東京")
	want := []string{"muller", "mueller", "und", "🎉", "東京", "京"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestTokenOffsets(t *testing.T) {
	text := "Grüße, 東京! 👍🏽"
	var got []string
	for _, tok := range Tokenize(text) {
		got = append(got, fmt.Sprintf("%s=%s", tok.Term, text[tok.Start:tok.End]))
	}
	want := []string{"grusse=Grüße", "東京=東京", "京=京", "👍=👍🏽"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
