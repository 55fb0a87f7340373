"""Interface text, in Vietnamese and English side by side.

The interface shows both languages at once ("Câu hỏi · Question") rather than switching: the
people who use it read one or both, and a switch would be one more setting to find. Messages
that answer a failure are in both languages too, each on its own line.
"""

from __future__ import annotations

__all__ = ["T", "message", "LANGUAGE_CHOICES"]

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
    "backend_reader": _bi("Mô hình đọc hiểu (trích cụm từ)", "Reading-comprehension model (answer span)"),
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
    "doc_cols": ["ID", _bi("Tiêu đề", "Headline"), _bi("Nguồn", "Outlet"), _bi("Ngày", "Date"),
                 _bi("Số đoạn", "Passages")],
    "remove_pick": _bi("Chọn bài để xoá", "Articles to remove"),
    "remove": _bi("Xoá khỏi chỉ mục", "Remove from the index"),
    "refresh": _bi("Làm mới", "Refresh"),
    "reading": _bi("Đang đọc", "Reading"),
    "rejected": _bi("từ chối", "rejected"),
    "skipped_part": _bi("bỏ qua", "skipped"),  # + "<file>, line <n>: <reason>"
    "indexing": _bi("Đang lập chỉ mục", "Indexing"),
}

LANGUAGE_CHOICES = [(_bi("Tự động", "Auto"), "auto"), ("Tiếng Việt", "vi"), ("English", "en")]

#: Messages shown instead of an answer or a traceback: (Vietnamese, English) templates.
MESSAGES = {
    "empty_question": ("Hãy nhập một câu hỏi.", "Please type a question."),
    "long_question": ("Câu hỏi quá dài ({n} ký tự; tối đa {max}). Hãy hỏi ngắn gọn hơn.",
                      "The question is too long ({n} characters; at most {max}). Please shorten it."),
    "index_missing": ("Chưa có chỉ mục bài báo ({error}). Hãy khởi động lại ứng dụng để lập chỉ mục "
                      "các bài có sẵn, hoặc tải bài lên ở thẻ Tài liệu.",
                      "The article index is not available ({error}). Restart the app to index the "
                      "bundled articles, or upload articles in the Documents tab."),
    "index_empty": ("Chỉ mục chưa có bài nào. Hãy tải bài lên ở thẻ Tài liệu.",
                    "The index holds no articles. Upload some in the Documents tab."),
    "failed": ("Không trả lời được câu hỏi này: {error}", "Could not answer this question: {error}"),
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


def message(key: str, **fields) -> str:
    """The message ``key`` in Vietnamese, then English (two lines of Markdown)."""
    vi, en = MESSAGES[key]
    return f"{vi.format(**fields)}  \n{en.format(**fields)}"


def message_inline(key: str, detail: str = "", **fields) -> str:
    """The message ``key`` in both languages on one line (for lists), then ``": detail"`` once
    when given (a reader's own message, in English, is not repeated per language)."""
    vi, en = MESSAGES[key]
    return f"{vi.format(**fields)}{SEP}{en.format(**fields)}" + (f": {detail}" if detail else "")
