import os

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render

from .forms import NoteForm
from .models import Note


def index(request):
    if request.method == "POST":
        form = NoteForm(request.POST)
        if form.is_valid():
            note = form.save()
            messages.success(request, "Saved “%s”." % note.title)
            return redirect("index")
        status = 400
    else:
        form = NoteForm()
        status = 200
    return render(
        request,
        "notes/index.html",
        {"form": form, "notes": Note.objects.all()[:50]},
        status=status,
    )


def detail(request, note_id):
    note = get_object_or_404(Note, pk=note_id)
    return render(request, "notes/detail.html", {"note": note})


def api_notes(request):
    notes = list(Note.objects.values("id", "title", "body"))
    return JsonResponse(
        {
            "count": len(notes),
            "notes": notes,
            # The gateway needs no DJANGO_ALLOW_ASYNC_UNSAFE: see compat.py.
            "async_unsafe_allowed": bool(
                os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
            ),
        }
    )
