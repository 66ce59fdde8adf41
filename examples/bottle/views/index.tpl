<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Bottle to-do</title>
  <link rel="stylesheet" href="{{root}}static/todo.css">
</head>
<body>
<h1>To-do{{", " + name if name else ""}}</h1>
% if defined("error"):
  <p class="error">{{error}}</p>
% end
<form method="post" action="{{url('add')}}">
  <input name="text"> <button>Add</button>
</form>
<ul id="todos">
% for todo in todos:
  <li class="{{'done' if todo['done'] else 'open'}}">{{todo["text"]}}
  % if not todo["done"]:
    <form method="post" action="{{url('done', todo_id=todo['id'])}}"><button>Done</button></form>
  % end
  </li>
% end
</ul>
<form method="post" action="{{url('name')}}"><input name="name"> <button>That's me</button></form>
</body>
</html>
