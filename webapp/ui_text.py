"""Interface text, in Vietnamese and English side by side.

The interface shows both languages at once ("Câu hỏi · Question") rather than switching: the
people who use it read one or both, and a switch would be one more setting to find. Messages
that answer a failure are in both languages too, each on its own line, once; a detail that
exists in one language only (an error from a library, in English) follows once, on a line of its
own, instead of being repeated inside each language's line.
"""

from __future__ import annotations

__all__ = ["T", "message", "message_inline", "bilingual", "escape", "LANGUAGE_CHOICES"]

SEP = " · "


def _bi(vi: str, en: str) -> str:
    return f"{vi}{SEP}{en}"


#: Labels of the interface.
T = {
    "title": _bi("Hỏi đáp tin tức Việt Nam", "Vietnamese news QA"),
    "intro": ("Hỏi bằng tiếng Việt hoặc tiếng Anh; câu trả lời trích từ các bài báo, mỗi ý có "
              "trích dẫn [n] — bấm vào [n] để xem câu được trích trong bài.  \n"
              "Ask in Vietnamese or English; answers quote the articles and every claim carries a "
              "citation [n] — click it to see the quoted sentence in its article."),
    "tab_chat": _bi("Hỏi đáp", "Chat"),
    "tab_docs": _bi("Tài liệu", "Documents"),
    "chatbot": _bi("Hội thoại", "Conversation"),
    "question": _bi("Câu hỏi", "Question"),
    "placeholder": "Ví dụ: Ông Kerry gặp ông Putin ở đâu? · e.g. Where did Kerry and Lavrov meet?",
    "send": _bi("Hỏi", "Ask"),
    "clear": _bi("Xoá hội thoại", "Clear chat"),
    "examples": _bi("Ví dụ", "Examples"),
    "settings": _bi("Cài đặt", "Settings"),
    "language": _bi("Ngôn ngữ trả lời", "Answer language"),
    "top_k": _bi("Số đoạn truy xuất", "Passages retrieved"),
    "backend": _bi("Cách trả lời", "Answering backend"),
    "backend_extractive": _bi("Trích câu (không cần mô hình)", "Extractive (no model)"),
    "backend_generative": _bi("Mô hình sinh", "Generative model"),
    "backend_reader": _bi("Mô hình đọc hiểu (câu trích + câu trả lời ngắn)", "Reading model (quoted sentences + short answer)"),
    "sources": _bi("Các đoạn đã truy xuất", "Retrieved passages"),
    "sources_empty": _bi("Chưa có câu hỏi nào.", "No question yet."),
    "cited": _bi("được trích", "cited"),
    "score": _bi("điểm", "score"),
    "rank": "#",
    "link": _bi("bài gốc", "original"),
    "upload": _bi("Tải lên bài báo", "Upload articles"),
    "upload_help": ("Tệp .txt, .md, .html, .pdf, .jsonl, tối đa {mb} MB mỗi tệp. "
                    "· Files .txt, .md, .html, .pdf, .jsonl, at most {mb} MB each."),
    "add": _bi("Thêm vào chỉ mục", "Add to the index"),
    "doc_list": _bi("Các bài trong chỉ mục", "Articles in the index"),
    "doc_cols": [_bi("Tiêu đề", "Headline"), _bi("Nguồn", "Outlet"), _bi("Ngày", "Date"),
                 _bi("Số đoạn", "Passages"), _bi("Từ đâu", "Origin")],
    "origin_bundled": _bi("có sẵn", "bundled"),
    "origin_uploaded": _bi("tải lên", "uploaded"),
    "origin_added": _bi("thêm bằng lệnh", "added by command"),
    "doc_count": "{shown} / {total} bài · articles",
    "doc_none": _bi("Không có bài nào khớp.", "No article matches."),
    "doc_empty": _bi("Chỉ mục chưa có bài nào.", "The index holds no article."),
    "doc_search": _bi("Tìm trong danh sách", "Search the list"),
    "doc_search_ph": "Kerry, VOV, 2016… (tiêu đề, nguồn, ngày, mã · headline, outlet, date, id)",
    "drop": _bi("Thả tệp vào đây", "Drop files here"),
    "or": _bi("hoặc", "or"),
    "click_upload": _bi("Bấm để chọn tệp", "Click to choose files"),
    "cancel": _bi("Huỷ tải lên", "Cancel upload"),
    "stop": _bi("Dừng", "Stop"),
    "filters": _bi("Lọc nguồn và ngày", "Source and date filters"),
    "filter_sources": _bi("Chỉ các nguồn", "Only these outlets"),
    "date_from": _bi("Từ ngày", "From date"),
    "date_to": _bi("Đến ngày", "To date"),
    "date_ph": "2016, 2016-08, 2016-08-26",
    "space_help": ("**Câu trả lời do mô hình sinh · Generative answers:** chưa cấu hình. Chủ Space bật bằng "
                   "*Settings → Variables and secrets*: `QA_GENERATOR_URL` + `QA_GENERATOR_MODEL` (+ secret "
                   "`QA_GENERATOR_API_KEY`), hoặc chỉ `QA_GENERATOR_MODEL` cho một mô hình chạy trên CPU của Space. "
                   "· Not configured. A Space owner turns them on in *Settings → Variables and secrets* (see the "
                   "README, \"Hugging Face Space\")."),
    "refused_note": _bi("Không đoạn nào đủ liên quan để trả lời; các đoạn gần nhất (không dùng làm bằng chứng):",
                        "No passage was relevant enough to answer; the closest ones (not used as evidence):"),
    "closest": _bi("đoạn gần nhất", "closest passages"),
    "chitchat_note": _bi("Không cần truy xuất cho lời chào hay câu xã giao.", "Small talk needs no retrieval."),
    "remove_pick": _bi("Chọn bài để xoá", "Articles to remove"),
    "remove": _bi("Xoá khỏi chỉ mục", "Remove from the index"),
    "refresh": _bi("Làm mới", "Refresh"),
    "regenerate": _bi("Trả lời lại", "Regenerate"),
    "reading": _bi("Đang đọc", "Reading"),
    "rejected": _bi("từ chối", "rejected"),
    "skipped_part": _bi("bỏ qua", "skipped"),  # + "<file>, line <n>: <reason>"
    "indexing": _bi("Đang lập chỉ mục", "Indexing"),
}

#: Stages of a background indexing job (qa.background.Job.state), in both languages.
STAGES = {
    "queued": ("đang chờ", "waiting"),
    "starting": ("khởi động bộ lập chỉ mục", "starting the indexer"),
    "reading": ("đọc tệp", "reading the files"),
    "chunking": ("chia đoạn", "splitting into passages"),
    "embedding": ("tính vector", "embedding"),
    "saving": ("lưu chỉ mục", "saving the index"),
}

LANGUAGE_CHOICES = [(_bi("Tự động", "Auto"), "auto"), ("Tiếng Việt", "vi"), ("English", "en")]

#: Messages shown instead of an answer or a traceback: (Vietnamese, English) templates.
MESSAGES = {
    "empty_question": ("Hãy nhập một câu hỏi.", "Please type a question."),
    "long_question": ("Câu hỏi quá dài ({n} ký tự; tối đa {max}). Hãy hỏi ngắn gọn hơn.",
                      "The question is too long ({n} characters; at most {max}). Please shorten it."),
    "index_missing": ("Chưa có chỉ mục bài báo. Hãy khởi động lại ứng dụng để lập chỉ mục "
                      "các bài có sẵn, hoặc tải bài lên ở thẻ Tài liệu.",
                      "The article index is not available. Restart the app to index the "
                      "bundled articles, or upload articles in the Documents tab."),
    "index_empty": ("Chỉ mục chưa có bài nào. Hãy tải bài lên ở thẻ Tài liệu.",
                    "The index holds no articles. Upload some in the Documents tab."),
    "failed": ("Không trả lời được câu hỏi này.", "Could not answer this question."),
    "upload_failed": ("Không thêm được các tệp vào chỉ mục; không bài nào được thêm.",
                      "The files could not be added to the index; no article was added."),
    "remove_failed": ("Không xoá được bài khỏi chỉ mục.", "Could not remove the articles from the index."),
    "upload_limit": ("tệp tạo {passages} đoạn ({sentences} câu), quá giới hạn mỗi lần tải lên: tối đa {max_p} đoạn "
                     "và {max_s} câu — hãy tách tệp, hoặc lập chỉ mục bằng lệnh `python -m qa index`",
                     "the file makes {passages} passages ({sentences} sentences), over the per-upload limit of "
                     "{max_p} passages and {max_s} sentences — split it, or index it with `python -m qa index`"),
    "indexing": ("Đang lập chỉ mục — {stage_vi}: {pct}%.", "Indexing — {stage_en}: {pct}%."),
    "queued": ("Đang chờ lượt lập chỉ mục…", "Waiting for the indexer…"),
    "cancelled": ("Đã huỷ; không bài nào của lần tải này được thêm.", "Cancelled; no article of this upload was added."),
    "cancelled_some": ("Đã huỷ; {n} bài đã lưu trước khi huỷ được giữ lại.",
                       "Cancelled; {n} article(s) saved before the cancellation were kept."),
    "nothing_to_cancel": ("Không có lần tải lên nào đang chạy.", "No upload is running."),
    "cancelling": ("Đang huỷ…", "Cancelling…"),
    "bad_date": ("Ngày lọc không hợp lệ (dạng 2016, 2016-08 hoặc 2016-08-26).",
                 "Invalid filter date (write 2016, 2016-08 or 2016-08-26)."),
    "stopped": ("Đã dừng.", "Stopped."),
    "no_source": ("Chỉ mục không có bài nào của nguồn đã chọn.", "The index holds no article of the chosen outlets."),
    "no_files": ("Chưa chọn tệp nào.", "No file selected."),
    "unsupported": ("loại tệp {ext} không được hỗ trợ (chỉ {allowed})",
                    "unsupported file type {ext} (only {allowed})"),
    "too_big": ("tệp quá lớn ({size} MB; tối đa {max} MB)", "file too large ({size} MB; at most {max} MB)"),
    "unreadable": ("không đọc được tệp", "unreadable file"),  # + ": <the reader's message>"
    "no_text": ("không tìm thấy văn bản nào trong tệp", "no text found in the file"),  # + a warning if any
    "upload_summary": ("Đã thêm {added} bài, bỏ qua {skipped} bài trùng, từ chối {rejected} tệp.",
                       "Added {added} article(s), skipped {skipped} duplicate(s), rejected {rejected} file(s)."),
    "file_added": ("thêm {added} bài, bỏ qua {skipped} bài trùng", "added {added}, skipped {skipped} duplicate(s)"),
    "nothing_selected": ("Chưa chọn bài nào để xoá.", "No article selected to remove."),
    "removed": ("Đã xoá {n} bài.", "Removed {n} article(s)."),
    "not_in_index": ("Không có bài {doc_id} trong chỉ mục.", "No article {doc_id} in the index."),
}


#: Characters that Markdown (and the chat's LaTeX) would interpret in plain text.
#: One pass over the text: HTML's own specials and these become character references.
#: Line breaks become <br>: a blank line would end the HTML block and let Markdown in.
_ESCAPES = {**{c: f"&#{ord(c)};" for c in "\\`*_[]#|~$"},
            "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "\n": "<br>", "\r": ""}


def escape(text: str) -> str:
    """HTML-escape ``text``, neutralise Markdown/LaTeX syntax characters, keep line breaks."""
    return "".join(_ESCAPES.get(c, c) for c in text or "")


def message(key: str, detail: str = "", **fields) -> str:
    """The message ``key`` in Vietnamese, then English (two lines of Markdown), then ``detail``
    (one language only, e.g. a library's error) once, on a third line."""
    vi, en = MESSAGES[key]
    return bilingual(vi.format(**fields), en.format(**fields), detail)


def bilingual(vi: str, en: str, detail: str = "") -> str:
    """Two lines of Markdown, Vietnamese then English, and ``detail`` (escaped) once after them."""
    out = f"{vi}  \n{en}"
    if detail:
        out += f"  \n<small>{escape(detail)}</small>"
    return out


def message_inline(key: str, detail: str = "", **fields) -> str:
    """The message ``key`` in both languages on one line (for lists), then ``": detail"`` once
    when given (a reader's own message, in English, is not repeated per language)."""
    vi, en = MESSAGES[key]
    return f"{vi.format(**fields)}{SEP}{en.format(**fields)}" + (f": {detail}" if detail else "")
